#!/usr/bin/env bash
# The shim's whole suite again with write-back speculation
# (SPECNFS_POLICY=full): every result must be byte-identical to the
# synchronous run's.
export SPECNFS_POLICY=full
exec bash "$(dirname "$0")/test_shim.sh"
