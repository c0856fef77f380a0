#!/bin/sh
# auto_test.sh - the headless automatic search, `qlens auto`: a run on the
# default bundle writes a policy file that `qlens export` accepts and the
# frontier as CSV and as JSON; bad options (no --max-drop, a negative budget,
# an unknown objective, an unwritable --out) each give one clear line, a
# non-zero exit and no file.
#
# usage: auto_test.sh QLENS SOURCE_ROOT
# Exit 77 (skipped) without the default bundle.  The result cache lives in a
# fresh folder: the first run sweeps, the second starts from its results.
set -u
QLENS=$1
ROOT=$(cd "$2" && pwd)
BUNDLE=$ROOT/sample-models/fashion-mobilenet
[ -f "$BUNDLE/bundle.json" ] || { echo "no $BUNDLE: skipped"; exit 77; }
WORK=$(mktemp -d /tmp/qlens-auto-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
XDG_CACHE_HOME=$WORK/cache
export XDG_CACHE_HOME
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; sed 's/^/     /' "$WORK/err" 2>/dev/null; }

# run NAME ARGS...: qlens ARGS (stdout in $WORK/out, stderr in $WORK/err, exit in $code)
run() {
	name=$1
	shift
	"$QLENS" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	code=$?
}

# ---- a run: the policy file, the frontier as CSV ---------------------------------------
run auto auto "$BUNDLE" --max-drop 1 --max-evals 3 --out "$WORK/p.json" --frontier "$WORK/f.csv"
if [ "$code" -eq 0 ]; then ok "auto: exit 0"; else bad "auto: exit $code"; fi
if grep -Eq '^search +knapsack: [0-9]+ evaluations, [0-9.]+ s' "$WORK/out" &&
	grep -Eq '^top-1 +[0-9.]+% \(FP32 [0-9.]+%, drop -?[0-9.]+ points, 95% CI' "$WORK/out"; then
	ok "auto: reports evaluations, time and the measured drop"
else
	bad "auto: reports evaluations, time and the measured drop"
	cat "$WORK/out"
fi
if [ -s "$WORK/p.json" ] && grep -q '"qlens-policy"' "$WORK/p.json"; then ok "auto: policy file written"; else bad "auto: policy file written"; fi
drop=$(sed -n 's/^top-1 .*drop \(-\{0,1\}[0-9.]*\) points.*/\1/p' "$WORK/out")
if [ -n "$drop" ] && awk -v d="$drop" 'BEGIN { exit !(d <= 1.0) }'; then ok "auto: measured drop $drop within the budget"; else bad "auto: measured drop '$drop' within the budget"; fi
if [ -s "$WORK/f.csv" ] && [ "$(wc -l <"$WORK/f.csv")" -ge 2 ] &&
	head -1 "$WORK/f.csv" | grep -q ','; then
	ok "auto: --frontier CSV written (header and $(($(wc -l <"$WORK/f.csv") - 1)) points)"
else
	bad "auto: --frontier CSV written"
fi
run export export "$BUNDLE" --policy "$WORK/p.json" --trt-precisions "$WORK/p.trt.txt"
if [ "$code" -eq 0 ] && [ -s "$WORK/p.trt.txt" ]; then ok "export accepts the policy file"; else bad "export accepts the policy file (exit $code)"; fi

# ---- the frontier as JSON (the sweep comes from the cache) -----------------------------
run auto-json auto "$BUNDLE" --max-drop 0.5 --objective bitops --max-evals 2 --out "$WORK/p2.json" --frontier "$WORK/f.json"
if [ "$code" -eq 0 ] && [ -s "$WORK/p2.json" ]; then ok "auto --objective bitops: exit 0, policy written"; else bad "auto --objective bitops: exit $code"; fi
# (no JSON parser in the test: the document's frame, its format tag, and as
# many "top1" entries as points are listed, each with a "nodes" object)
if [ -s "$WORK/f.json" ] && head -c 1 "$WORK/f.json" | grep -q '{' &&
	tail -c 2 "$WORK/f.json" | grep -q '}' &&
	grep -q '"format":[[:space:]]*"qlens-frontier"' "$WORK/f.json" &&
	[ "$(grep -c '"top1":' "$WORK/f.json")" -ge 1 ] &&
	[ "$(grep -c '"top1":' "$WORK/f.json")" -eq "$(grep -c '"nodes":' "$WORK/f.json")" ]; then
	ok "auto: --frontier JSON written ($(grep -c '"top1":' "$WORK/f.json") points)"
else
	bad "auto: --frontier JSON written"
fi

# ---- bad options: one line, non-zero exit, no file --------------------------------------
# refused NAME OUT ARGS...: qlens auto ARGS fails with one line naming WHAT and writes no OUT
refused() {
	name=$1
	what=$2
	out=$3
	shift 3
	run "$name" auto "$BUNDLE" "$@"
	lines=$(wc -l <"$WORK/err")
	if [ "$code" -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$what" "$WORK/err" && [ ! -e "$out" ]; then
		ok "$name: exit $code, one line: $(cat "$WORK/err")"
	else
		bad "$name: exit $code, $lines lines (want non-zero, one line naming '$what', no $out)"
	fi
}
refused no-max-drop '--max-drop' "$WORK/b1.json" --out "$WORK/b1.json"
refused negative-budget 'max-drop\|budget' "$WORK/b2.json" --max-drop -1 --out "$WORK/b2.json"
refused bad-objective 'objective\|nope' "$WORK/b3.json" --max-drop 1 --objective nope --out "$WORK/b3.json"
refused unwritable-out "$WORK/none/b4.json" "$WORK/none/b4.json" --max-drop 1 --out "$WORK/none/b4.json"
ls "$WORK"/b*.json "$WORK"/b*.json.* >/dev/null 2>&1 && bad "no stray files from the refusals"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
