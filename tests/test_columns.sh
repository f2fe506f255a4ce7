#!/bin/sh
# No line of C in the tree over 100 columns (tools/check-columns), from
# make check: SPECNFS_SRCDIR is the source tree, in VPATH builds too.
src=${SPECNFS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
exec "$src/tools/check-columns" "$src"
