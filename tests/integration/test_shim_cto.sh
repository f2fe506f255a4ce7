#!/usr/bin/env bash
# The shim's whole suite again, speculating (SPECNFS_POLICY=cto): every
# result must be byte-identical to the synchronous run's.
export SPECNFS_POLICY=cto
exec bash "$(dirname "$0")/test_shim.sh"
