#!/usr/bin/env bash
# The fault campaign's short form (tools/specnfs-faults --short): every
# scenario once against the real test bed; one TAP line per scenario, with
# the campaign's own lines saying what was lost, escaped or differed.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ganesha.nfsd nfs-ls python3 gcc make setpriv
require_built "$SPECNFS" "$SPECNFSD" "$WANEM"

"$SRCDIR/tools/specnfs-faults" --short --builddir "$BUILDDIR" --out "$T_TMP/out" \
	>"$T_TMP/campaign.txt" 2>&1
rc=$?
sed 's/^/# /' "$T_TMP/campaign.txt"
if grep -q 'cannot start the NFS test bed' "$T_TMP/campaign.txt"; then
	skip "cannot start the NFS test bed: $(grep -m 1 'cannot start' "$T_TMP/campaign.txt")"
fi
n=0
while read -r line; do
	n=$((n + 1))
	name=$(sed -n 's/^scenario \([a-z0-9]*\):.*/\1/p' <<<"$line")
	check "scenario $name: ${line#scenario $name: }" grep -q 'result=PASS$' <<<"$line"
done < <(grep '^scenario ' "$T_TMP/campaign.txt")
check "the campaign ran all 11 scenarios ($n summary lines)" test "$n" -eq 11
check "the campaign printed a total line and exited by its result (exit $rc)" \
	bash -c 'grep -q "^total: .*result=PASS" "$1" && [ "$2" -eq 0 ] ||
		{ grep -q "^total: .*result=FAIL" "$1" && [ "$2" -ne 0 ]; }' \
	_ "$T_TMP/campaign.txt" "$rc"
finish
