#!/usr/bin/env bash
# The shim's whole acceptance suite (files, directories, exec) again with
# SPECNFS_POLICY=full: every result must be the same as the synchronous run's
# (each suite compares with the server's bytes and the programs' output).
export SPECNFS_POLICY=full
dir=$(dirname "$0")
rc=0
for t in test_shim test_shim_dir test_shim_exec; do
	bash "$dir/$t.sh" || rc=1
done
exit $rc
