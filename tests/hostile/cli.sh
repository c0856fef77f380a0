#!/usr/bin/env bash
# cli.sh QLENS SOURCE_ROOT - the hostile corpus through the program itself.
#
# The unit tests (test_onnx_load, test_bundle) check each hostile case's
# status and message in the library; this checks what the user sees:
# `qlens inspect CASE` exits non-zero with exactly one line on stderr, nothing
# on stdout, within 10 s, for every refused .onnx file (tests/hostile/onnx/
# expected.txt, except the cases that need a link or FIFO made at test time)
# and every refused bundle (tests/hostile/bundle/expected.txt).  Every bad
# .npy file (tests/hostile/npy/cases.txt, through `qlens run`) and every bad
# policy file (tests/hostile/policy/cases.txt, through `qlens export` of
# sample-models/fashion-mobilenet) gives exactly one error line naming the file
# and holding the listed substring, a non-zero exit, no stdout and no output
# file.  And a model whose names carry escape sequences (terminal/
# escape_names.onnx: tiny.onnx with same-length byte replacements of its
# producer, a node, an output and an op name) is listed with those bytes
# replaced, so nothing reaches the terminal.  Each group's line names its
# slowest case (the 10 s limit only catches hangs; issue 9 asks for 1 s, which
# this reports rather than asserts: timings belong to benchmarks).
set -u
QLENS=$1 ROOT=$2
H=$ROOT/tests/hostile
export OPENBLAS_NUM_THREADS=1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0 n=0
slow_ms=0 slow_what=

# timed CMD...: run CMD under a 10 s limit, keeping the slowest run
timed() {
	local t0 t1 rc
	t0=$(date +%s%N)
	timeout 10 "$@" >"$W/out" 2>"$W/err"
	rc=$?
	t1=$(date +%s%N)
	if (((t1 - t0) / 1000000 > slow_ms)); then
		slow_ms=$(((t1 - t0) / 1000000))
		slow_what=${WHAT##*/}
	fi
	return $rc
}
slowest() {
	echo "  slowest: $slow_ms ms ($slow_what)"
	slow_ms=0 slow_what=
}

refused() {
	local what=$1
	n=$((n + 1))
	WHAT=$what timed "$QLENS" inspect "$what"
	local rc=$? lines
	lines=$(wc -l <"$W/err")
	if ((rc == 0 || rc >= 124)) || ((lines != 1)) || [ -s "$W/out" ]; then
		echo "FAIL: $what: exit $rc, $lines stderr lines, $(wc -c <"$W/out") stdout bytes:"
		head -5 "$W/err"
		fail=1
	fi
}

while IFS=$'\t' read -r file _ mode; do
	case $file in '#'* | '') continue ;; esac
	[ "${mode:-}" = setup ] && continue
	refused "$H/onnx/$file"
done <"$H/onnx/expected.txt"
while IFS=$'\t' read -r dir status _; do
	case $dir in '#'* | '') continue ;; esac
	[ "$status" = OK ] && continue
	refused "$H/bundle/$dir"
done <"$H/bundle/expected.txt"
echo "$n hostile models and bundles: one error line and a non-zero exit each"
slowest

# refused_file WHAT SUBSTRING CMD...: CMD exits non-zero within 10 s with one
# line on stderr naming WHAT and holding SUBSTRING, nothing on stdout, and
# leaves no file at $W/x.* (the outputs the commands below are asked for).
refused_file() {
	local what=$1 want=$2 rc lines
	shift 2
	WHAT=$what timed "$@"
	rc=$?
	lines=$(wc -l <"$W/err")
	if ((rc == 0 || rc >= 124)) || ((lines != 1)) || [ -s "$W/out" ] ||
		! grep -qF -- "$what" "$W/err" || ! grep -qF -- "$want" "$W/err" ||
		compgen -G "$W/x.*" >/dev/null; then
		echo "FAIL: $what: exit $rc, $lines stderr lines, $(wc -c <"$W/out") stdout bytes," \
			"wanted '$want':"
		head -5 "$W/err"
		ls "$W"/x.* 2>/dev/null
		rm -f "$W"/x.*
		fail=1
	fi
}

# bad .npy files: `qlens run` reads each --input array right after the model
n=0
while IFS=$'\t' read -r file want; do
	case $file in '#'* | '') continue ;; esac
	n=$((n + 1))
	refused_file "$H/npy/$file" "$want" \
		"$QLENS" run "$H/bundle/ok" --input "$H/npy/$file" --output "$W/x.npy"
done <"$H/npy/cases.txt"
echo "$n hostile .npy files: one error line with the expected message each"
slowest

# bad policy files: `qlens export` loads the policy right after the model,
# before calibrating or simulating anything
n=0
while IFS=$'\t' read -r file want; do
	case $file in '#'* | '') continue ;; esac
	n=$((n + 1))
	refused_file "$H/policy/$file" "$want" \
		"$QLENS" export "$ROOT/sample-models/fashion-mobilenet" --policy "$H/policy/$file" \
		--trt-precisions "$W/x.txt"
done <"$H/policy/cases.txt"
echo "$n hostile policy files: one error line with the expected message each"
slowest

# escape sequences in names
if ! "$QLENS" inspect "$H/terminal/escape_names.onnx" >"$W/out" 2>"$W/err"; then
	echo "FAIL: inspect escape_names.onnx failed: $(cat "$W/err")"
	fail=1
fi
if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f\x9b]' "$W/out" "$W/err"; then
	echo "FAIL: inspect printed control characters from the model:"
	LC_ALL=C grep -n $'[\x01-\x09\x0b-\x1f\x7f\x9b]' "$W/out" | od -c | head
	fail=1
elif ! grep -q '?\[31mXY' "$W/out" || ! grep -q 'producer ?\[2J?\]0;pw?' "$W/out"; then
	echo "FAIL: inspect did not list the sanitized names:"
	cat "$W/out"
	fail=1
else
	echo "escape_names.onnx: names listed with control characters replaced by '?'"
fi
exit $fail
