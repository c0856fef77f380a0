#!/bin/sh
# cli_test.sh - a bare model with --calib/--eval/--labels works like a bundle
# for `qlens policy`, `eval`, `sweep` and `export`, and their command lines
# (and the explorer's) refuse what they cannot use with one clear line.  (The
# explorer on a bare model runs in tui_test.sh.)
#
# usage: cli_test.sh QLENS SOURCE_ROOT
# Exit 77 (skipped) without the default bundle and its data.
set -u
QLENS=$1
ROOT=$(cd "$2" && pwd)
BUNDLE=$ROOT/sample-models/fashion-mobilenet
MODEL=$BUNDLE/model.onnx
DATA=$ROOT/sample-models/data/fashion-mnist
for f in "$BUNDLE/bundle.json" "$MODEL" "$DATA/calib.npy" "$DATA/eval.npy" "$DATA/eval-labels.npy"; do
	[ -f "$f" ] || { echo "no $f: skipped"; exit 77; }
done
WORK=$(mktemp -d /tmp/qlens-cli-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; sed 's/^/     /' "$WORK/err" 2>/dev/null; }

# run CODE NAME ARGS...: qlens ARGS exits with CODE (stdout in $WORK/out, stderr in $WORK/err)
run() {
	want=$1
	name=$2
	shift 2
	"$QLENS" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	code=$?
	if [ "$code" = "$want" ]; then ok "$name: exit $code"; else bad "$name: exit $code, want $want"; fi
}
# one_line NAME PATTERN: stderr is exactly one line matching PATTERN (grep -E)
one_line() {
	if [ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -Eq -- "$2" "$WORK/err"; then
		ok "$1: one clear line"
	else
		bad "$1: one line matching '$2'"
	fi
}
DATAOPTS="--calib $DATA/calib.npy --eval $DATA/eval.npy --labels $DATA/eval-labels.npy"

# ---- qlens policy on a bare model, against the same on the bundle -----------------
# shellcheck disable=SC2086
run 0 "policy MODEL.onnx --calib --eval --labels" policy "$MODEL" $DATAOPTS --out "$WORK/bare.json"
if grep -q '"qlens-policy"' "$WORK/bare.json" 2>/dev/null; then ok "bare-model policy file written"; else bad "bare-model policy file written"; fi
bare=$(sed -n 's/.*: \(top-1 .*\)/\1/p' "$WORK/out")
run 0 "policy BUNDLE" policy "$BUNDLE" --out "$WORK/bundle.json"
bund=$(sed -n 's/.*: \(top-1 .*\)/\1/p' "$WORK/out")
if [ -n "$bare" ] && [ "$bare" = "$bund" ]; then
	ok "bare model and bundle measure the same ($bare)"
else
	bad "bare model and bundle measure the same: '$bare' / '$bund'"
fi

# ---- qlens eval, sweep and export on a bare model -----------------------------------
# eval measures what policy measured (same preset, all calibration samples)
# shellcheck disable=SC2086
run 0 "eval MODEL.onnx --calib --eval --labels" eval "$MODEL" $DATAOPTS
ev=$(sed -n 's/^top-1 *\([0-9.]*%\).*/\1/p' "$WORK/out")
case "$bare" in
"top-1 $ev "*) ok "eval and policy agree on the bare model (top-1 $ev)" ;;
*) bad "eval and policy agree on the bare model: '$ev' / '$bare'" ;;
esac
# one layer (a shard), one candidate, no cache: a sweep in seconds
# shellcheck disable=SC2086
run 0 "sweep MODEL.onnx --calib --eval --labels" sweep "$MODEL" $DATAOPTS --candidates fp16 \
	--no-cache --shard 1/40 --calib-samples 32 --json "$WORK/sweep.json"
if grep -q '^/features/features.0/Conv .* fp16 ' "$WORK/out" && grep -q '"rows"' "$WORK/sweep.json" 2>/dev/null; then
	ok "bare-model sweep: table and --json"
else
	bad "bare-model sweep: table and --json"
fi
run 0 "export MODEL.onnx --calib --policy" export "$MODEL" --calib "$DATA/calib.npy" \
	--policy "$WORK/bare.json" --qdq "$WORK/bare-qdq.onnx" --trt-precisions "$WORK/bare-trt.txt"
if [ -s "$WORK/bare-qdq.onnx" ] && [ -s "$WORK/bare-trt.txt" ] && grep -q 'QDQ model' "$WORK/out"; then
	ok "bare-model export: QDQ model and trtexec precisions written"
else
	bad "bare-model export: QDQ model and trtexec precisions written"
fi

# ---- refusals ---------------------------------------------------------------------------
run 1 "policy MODEL.onnx without data" policy "$MODEL" --out "$WORK/none.json"
one_line "policy MODEL.onnx without data" 'model\.onnx: no (evaluation|calibration) data'
if [ -e "$WORK/none.json" ]; then bad "nothing written on failure"; else ok "nothing written on failure"; fi
run 1 "policy with a missing --calib file" policy "$MODEL" --calib "$WORK/missing.npy" \
	--eval "$DATA/eval.npy" --labels "$DATA/eval-labels.npy" --out "$WORK/none.json"
one_line "policy with a missing --calib file" 'missing\.npy'
run 1 "sweep MODEL.onnx without labels" sweep "$MODEL" --calib "$DATA/calib.npy" \
	--eval "$DATA/eval.npy" --candidates fp16 --no-cache --json "$WORK/none.json"
one_line "sweep MODEL.onnx without labels" 'model\.onnx: no labels \(give --labels FILE\.npy\)'
# shellcheck disable=SC2086
run 2 "eval --batch 0" eval "$MODEL" $DATAOPTS --batch 0
one_line "eval --batch 0" "^qlens eval: --batch takes a whole number from 1"
run 1 "export MODEL.onnx without --calib" export "$MODEL" --policy "$WORK/bare.json" \
	--qdq "$WORK/none.onnx"
one_line "export MODEL.onnx without --calib" 'model\.onnx: no calibration data \(give --calib'
if [ -e "$WORK/none.json" ] || [ -e "$WORK/none.onnx" ]; then
	bad "sweep and export write nothing on failure"
else
	ok "sweep and export write nothing on failure"
fi
run 2 "explorer: --calib without its file" "$MODEL" --calib
one_line "explorer: --calib without its file" "missing the file after '--calib'"
run 2 "explorer: unknown option" "$MODEL" --bogus
one_line "explorer: unknown option" "unknown command or option '--bogus'"
run 2 "explorer: --cache-mb 0" "$MODEL" --cache-mb 0
one_line "explorer: --cache-mb 0" "^qlens: --cache-mb takes a whole number of MiB from 1"
run 2 "explorer: two models" "$MODEL" "$MODEL"
one_line "explorer: two models" 'takes one bundle or model'

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
