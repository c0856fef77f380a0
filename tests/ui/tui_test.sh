#!/bin/sh
# tui_test.sh - drive the real explorer in tmux as a person would: open the
# default bundle, wait for the sweep, move, toggle a node and watch the
# header's predicted then measured values change, open help and the detail
# pane, filter, save a policy and check the file, resize, quit; and check
# that the terminal's mode (stty -g inside the pane) is restored after q,
# SIGINT and SIGTERM.
#
# usage: tui_test.sh QLENS SOURCE_ROOT
# Bundle: $QLENS_BUNDLE, else sample-models/fashion-mobilenet when present,
# else sample-models/fashion-resnet.  Exit 77 (skipped) without tmux.
set -u
QLENS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROOT=$(cd "$2" && pwd)
command -v tmux >/dev/null 2>&1 || { echo "tmux not found: skipped"; exit 77; }

if [ -n "${QLENS_BUNDLE:-}" ]; then
	BUNDLE=$QLENS_BUNDLE
elif [ -f "$ROOT/sample-models/fashion-mobilenet/bundle.json" ]; then
	BUNDLE=$ROOT/sample-models/fashion-mobilenet
else
	BUNDLE=$ROOT/sample-models/fashion-resnet
fi

WORK=$(mktemp -d /tmp/qlens-tui-test.XXXXXX)
SOCK=qlens-tui-test-$$
T="tmux -L $SOCK"
PASS=0
FAIL=0

cleanup() {
	$T kill-server 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() {
	FAIL=$((FAIL + 1))
	echo "FAIL $1"
	echo "---- screen ----"
	screen
	echo "----------------"
}
screen() { $T capture-pane -p -t qt 2>/dev/null; }
# wait_for PATTERN SECONDS: true when the screen matches (grep -E) in time
wait_for() {
	i=0
	n=$(($2 * 10))
	while [ $i -lt $n ]; do
		if screen | grep -Eq -- "$1"; then return 0; fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# gone PATTERN SECONDS: true when the screen stops matching in time
gone() {
	i=0
	n=$(($2 * 10))
	while [ $i -lt $n ]; do
		if ! screen | grep -Eq -- "$1"; then return 0; fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
keys() { $T send-keys -t qt "$@"; }
line() { screen | sed -n "${1}p"; }

# start NAME: a pane running qlens; records stty before/after, exit code, pid
start() {
	rm -f "$WORK/$1".*
	cat >"$WORK/$1.sh" <<EOF
cd "$WORK"
stty -g >"$WORK/$1.before"
sh -c 'echo \$\$ >"$WORK/$1.pid"; exec "$QLENS" "$BUNDLE"'
echo \$? >"$WORK/$1.exit"
stty -g >"$WORK/$1.after"
sleep 600
EOF
	$T kill-server 2>/dev/null
	SOCK=qlens-tui-test-$$-$1 # a fresh server per run: no race with the old one
	T="tmux -L $SOCK"
	$T -f /dev/null new-session -d -s qt -x 100 -y 30 \
		"env LANG=C.UTF-8 XDG_CACHE_HOME=$WORK/cache ${EXTRA_ENV:-} sh $WORK/$1.sh"
}
# finished NAME CODE: the program exited with CODE and the mode is restored
finished() {
	i=0
	while [ ! -f "$WORK/$1.after" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	if [ ! -f "$WORK/$1.after" ]; then
		bad "$1: the program did not exit"
		return
	fi
	code=$(cat "$WORK/$1.exit")
	if [ "$code" = "$2" ]; then ok "$1: exit status $code"; else bad "$1: exit status $code, want $2"; fi
	if cmp -s "$WORK/$1.before" "$WORK/$1.after"; then
		ok "$1: terminal mode restored (stty -g identical)"
	else
		bad "$1: terminal mode differs: $(cat "$WORK/$1.before") / $(cat "$WORK/$1.after")"
	fi
	if screen | grep -q 'FP32'; then bad "$1: the alternate screen was not left"; else ok "$1: screen restored"; fi
}

echo "# bundle $BUNDLE"

# ---- 1. open, draw at once, sweep in the background ---------------------------
start main
t0=$(date +%s)
if wait_for 'qlens . ' 3; then ok "draws at once"; else bad "draws at once"; fi
if wait_for 'FP32' 3 && wait_for '(node|#) +' 3; then ok "header and layer table"; else bad "header and layer table"; fi
if wait_for '[0-9]+%.*(ETA|open|reference|calib|isolate|local|policy)' 20; then ok "progress bar while working"; else bad "progress bar while working"; fi
# keys answer during the sweep: the help overlay opens and closes at once
keys '?'
if wait_for 'keys +\(Esc' 1; then ok "help opens during the sweep"; else bad "help opens during the sweep"; fi
keys Escape
if gone 'keys +\(Esc' 1; then ok "help closes"; else bad "help closes"; fi
if wait_for '^ ready' 300; then ok "sweep finished ($(($(date +%s) - t0)) s)"; else bad "sweep finished"; fi
if wait_for 'policy [0-9.]+%.*measured' 60; then ok "starting policy measured"; else bad "starting policy measured"; fi
if screen | sed -n '5,$p' | grep -q '·'; then bad "every heat cell filled"; else ok "every heat cell filled"; fi

# ---- 2. move, toggle: predicted at once, measured after ------------------------
pred0=$(line 3 | sed -n 's/.*predicted Δ \([-+0-9.?]*\).*/\1/p')
keys j
keys Right
if wait_for 'modified' 1; then ok "toggle marks the policy modified"; else bad "toggle marks the policy modified"; fi
pred1=$(line 3 | sed -n 's/.*predicted Δ \([-+0-9.?]*\).*/\1/p')
if [ -n "$pred1" ] && [ "$pred1" != "$pred0" ]; then ok "predicted delta changed at once ($pred0 -> $pred1)"; else bad "predicted delta changed at once ($pred0 -> $pred1)"; fi
if screen | sed -n 2p | grep -Eq 'measuring|changed'; then ok "changed-but-not-measured shown"; else bad "changed-but-not-measured shown"; fi
if wait_for 'policy [0-9.]+%.*measured' 60; then ok "measured after the re-evaluation"; else bad "measured after the re-evaluation"; fi
keys u
if wait_for 'predicted Δ '"$(printf '%s' "$pred0" | sed 's/[+.]/\\&/g')"' ' 2; then ok "undo restores the prediction"; else bad "undo restores the prediction"; fi
keys C-r
if wait_for 'predicted Δ '"$(printf '%s' "$pred1" | sed 's/[+.]/\\&/g')"' ' 2; then ok "redo"; else bad "redo"; fi

# ---- 3. detail pane -------------------------------------------------------------
keys Enter
if wait_for 'weights, clip|weights [0-9]' 10; then ok "detail pane: weights"; else bad "detail pane: weights"; fi
if wait_for 'input activation' 60; then ok "detail pane: input activation histogram"; else bad "detail pane: input activation histogram"; fi
keys c
if wait_for 'calibrator: percentile' 2; then ok "detail: calibrator changes"; else bad "detail: calibrator changes"; fi
keys Escape
if gone 'weights, clip' 2; then ok "detail closes"; else bad "detail closes"; fi

# ---- 4. filter -------------------------------------------------------------------
keys / G e m m Enter
sleep 0.3
rows=$(screen | sed -n '6,28p' | grep -c 'Gemm')
others=$(screen | sed -n '6,28p' | grep -Ec ' (Conv|Add|MaxPool|Relu) ')
if [ "$rows" -ge 1 ] && [ "$others" -eq 0 ]; then ok "filter by op"; else bad "filter by op ($rows Gemm, $others others)"; fi
keys Escape
if wait_for ' Conv ' 2; then ok "Esc clears the filter"; else bad "Esc clears the filter"; fi

# ---- 5. Pareto --------------------------------------------------------------------
keys P
if wait_for 'top-1 against weight size' 2; then ok "Pareto view"; else bad "Pareto view"; fi
keys x
if wait_for 'top-1 against BitOps' 2; then ok "Pareto axis toggles"; else bad "Pareto axis toggles"; fi
keys P

# ---- 6. save --------------------------------------------------------------------------
keys w C-u
keys -l "$WORK/saved.policy.json"
keys Enter
if wait_for 'saved the policy' 60; then ok "save reports success"; else bad "save reports success"; fi
if [ -f "$WORK/saved.policy.json" ] && grep -q '"qlens-policy"' "$WORK/saved.policy.json"; then
	ok "policy file written"
else
	bad "policy file written"
fi
if grep -q '"w4a8\|"fp8e4m3\|"fp16\|"fp32' "$WORK/saved.policy.json"; then ok "policy file holds the toggled precision"; else bad "policy file holds the toggled precision"; fi
if screen | sed -n 1p | grep -q modified; then bad "saved policy no longer modified"; else ok "saved policy no longer modified"; fi

# ---- 6b. export (TensorRT flags: the quickest) ------------------------------------------
keys e
if wait_for 'export the policy as' 2; then ok "export menu"; else bad "export menu"; fi
keys 3 C-u
keys -l "$WORK/policy.trt.txt"
keys Enter
if wait_for 'exported to' 60 && [ -s "$WORK/policy.trt.txt" ]; then ok "export writes the file"; else bad "export writes the file"; fi

# ---- 7. resize ------------------------------------------------------------------------
$T resize-window -t qt -x 80 -y 24 2>/dev/null || $T resize-pane -t qt -x 80 -y 24
sleep 0.5
w=$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m }')
if wait_for 'FP32' 2 && [ "$(screen | wc -l)" -le 24 ]; then ok "redraws at 80x24"; else bad "redraws at 80x24"; fi
$T resize-window -t qt -x 160 -y 45 2>/dev/null || $T resize-pane -t qt -x 160 -y 45
sleep 0.5
if wait_for 'isolate' 2; then ok "wide layout shows intervals"; else bad "wide layout shows intervals"; fi

# ---- 8. quit with q ---------------------------------------------------------------------
keys q
finished main 0

# ---- 9. unsaved changes prompt, SIGINT, SIGTERM ------------------------------------------
start prompt
wait_for 'FP32' 5
keys Right
wait_for 'modified' 2
keys q
if wait_for 'unsaved changes' 2; then ok "quit asks when the policy is not saved"; else bad "quit asks when the policy is not saved"; fi
keys n
finished prompt 0

for sig in INT TERM HUP SEGV; do
	start "sig$sig"
	wait_for 'FP32' 5
	sleep 0.5
	i=0
	while [ ! -s "$WORK/sig$sig.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -s "$sig" "$(cat "$WORK/sig$sig.pid")"
	case $sig in INT) code=130 ;; TERM) code=143 ;; HUP) code=129 ;; SEGV) code=139 ;; esac
	finished "sig$sig" "$code"
done

# ---- 10. monochrome ASCII fallback -------------------------------------------------------
EXTRA_ENV="NO_COLOR=1 QLENS_ASCII=1"
start ascii
EXTRA_ENV=
if wait_for 'qlens \| ' 5 && ! screen | grep -q '│'; then ok "ASCII drawing with QLENS_ASCII"; else bad "ASCII drawing with QLENS_ASCII"; fi
keys q
finished ascii 0

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
