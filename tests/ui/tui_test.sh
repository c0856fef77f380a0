#!/bin/sh
# tui_test.sh - drive the real explorer in tmux as a person would: open the
# default bundle, wait for the sweep, move, toggle a node and watch the
# header's predicted then measured values change, open help and the detail
# pane, filter, run the automatic search (a) and undo it, pick a search
# point in the Pareto view, cancel a search, save a policy and check the
# file, resize, quit; 50 random
# resizes during the sweep, then the 80x24 screen; mouse clicks and wheel
# as X10 and SGR reports; a bare model with --calib/--eval/--labels; and
# that the terminal (stty -g inside the pane, tmux's cursor, alternate
# screen, keypad and mouse flags) is restored after q, an error, SIGINT,
# SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, and crashes raised inside the program
# through the test-only QLENS_TEST_CRASH (segv, abrt, segv-thread, exit);
# that --cache-mb bounds the memory the activation caches take.
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
	stop_server
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
# the character with code $1
chr() { printf "\\$(printf '%03o' "$1")"; }
# mouse BUTTON X Y: one X10 mouse report (what ncurses asks for under TERM
# screen/tmux: ESC [ M, then 32 + button, 33 + column, 33 + row, 0-based)
x10() { printf '\033[M'; chr $((32 + $1)); chr $((33 + $2)); chr $((33 + $3)); }
# sgr BUTTON X Y M|m: one SGR (1006) report (xterm): press M, release m, 1-based
sgr() { printf '\033[<%d;%d;%d%s' "$1" $(($2 + 1)) $(($3 + 1)) "$4"; }
# click X Y [sgr]: press and release button 1 at screen cell (X, Y)
click() {
	if [ "${3:-}" = sgr ]; then keys -l "$(sgr 0 "$1" "$2" M)$(sgr 0 "$1" "$2" m)"
	else keys -l "$(x10 0 "$1" "$2")$(x10 3 "$1" "$2")"; fi
}
# wheel X Y up|down [sgr]
wheel() {
	b=64
	[ "$3" = down ] && b=65
	if [ "${4:-}" = sgr ]; then keys -l "$(sgr $b "$1" "$2" M)"; else keys -l "$(x10 $b "$1" "$2")"; fi
}
# the selection as the column head shows it when the table is longer than
# the screen: "node I/N"
sel_is() { wait_for "node $1/[0-9]+" 2; }

# stop the tmux server and remove its socket (tmux 3.3 leaves it behind)
stop_server() {
	$T kill-server 2>/dev/null
	rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK"
}
# quote ARG for sh: 'ARG' with each ' written as '\''
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
# start NAME [ARGS...]: a pane of ${GEOM:-100x30} running qlens ARGS (default:
# the bundle) with $EXTRA_ENV; records stty before/after, exit code, pid
start() {
	name=$1
	shift
	[ $# -gt 0 ] || set -- "$BUNDLE"
	args=
	for a in "$@"; do args="$args $(shq "$a")"; done
	rm -f "$WORK/$name".*
	cat >"$WORK/$name.sh" <<EOF
cd "$WORK"
stty -g >"$WORK/$name.before"
sh -c 'echo \$\$ >"$WORK/$name.pid"; exec "\$0" "\$@"' "$QLENS" $args
echo \$? >"$WORK/$name.exit"
stty -g >"$WORK/$name.after"
sleep 600
EOF
	stop_server
	SOCK=qlens-tui-test-$$-$name # a fresh server per run: no race with the old one
	T="tmux -L $SOCK"
	g=${GEOM:-100x30}
	$T -f /dev/null new-session -d -s qt -x "${g%x*}" -y "${g#*x}" \
		"env LANG=C.UTF-8 XDG_CACHE_HOME=$WORK/cache ${EXTRA_ENV:-} sh $WORK/$name.sh"
}
# the pane's modes as tmux sees them: cursor visible, alternate screen,
# keypad (application cursor keys) mode, any mouse reporting
flags() { $T display -p -t qt '#{cursor_flag} #{alternate_on} #{keypad_cursor_flag} #{mouse_any_flag}'; }
# wait_exit NAME: true when the program has exited within 10 s
wait_exit() {
	i=0
	while [ ! -f "$WORK/$1.after" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -f "$WORK/$1.after" ]
}
# finished NAME CODE: the program exited with CODE and the mode is restored
finished() {
	if ! wait_exit "$1"; then
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
	f=$(flags)
	if [ "$f" = "1 0 0 0" ]; then
		ok "$1: cursor visible, main screen, keypad and mouse modes off"
	else
		bad "$1: pane flags (cursor alternate keypad mouse) are '$f', want '1 0 0 0'"
	fi
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

# ---- 1b. 50 random resizes during the sweep (20x6 .. 300x100), then 80x24 ----
if wait_for '(local SQNR|isolate|reference|calibration|policy evaluation)' 30; then :; fi
seed=$(date +%s)
echo "# resize seed $seed"
awk -v s="$seed" 'BEGIN { srand(s); for (i = 0; i < 50; i++)
	printf "%d %d %s\n", 20 + int(rand() * 281), 6 + int(rand() * 95), i % 3 ? "0.05" : "0" }' |
while read -r w h pause; do
	$T resize-window -t qt -x "$w" -y "$h"
	[ "$pause" = 0 ] || sleep "$pause"
done
if [ ! -f "$WORK/main.after" ] && kill -0 "$(cat "$WORK/main.pid")" 2>/dev/null; then
	ok "50 random resizes: still running"
else
	bad "50 random resizes: the program died"
fi
$T resize-window -t qt -x 80 -y 24
sleep 0.5
i=0
while [ $i -lt 10 ] && ! line 4 | grep -q '▸'; do sleep 0.1; i=$((i + 1)); done
if line 4 | grep -q '▸'; then ok "the resizes happened during the sweep"; else bad "the resizes happened during the sweep"; fi
s80=$(screen)
if [ "$(printf '%s\n' "$s80" | wc -l)" -eq 24 ] &&
	printf '%s\n' "$s80" | sed -n 1p | grep -q '^ qlens . ' &&
	printf '%s\n' "$s80" | sed -n 2p | grep -q '^FP32 ' &&
	printf '%s\n' "$s80" | sed -n 5p | grep -q 'node.*precision' &&
	printf '%s\n' "$s80" | sed -n 24p | grep -q 'help' &&
	[ "$(printf '%s\n' "$s80" | sed -n '6,23p' | grep -c '[a-zA-Z]')" -ge 10 ]; then
	ok "after the resizes: the 80x24 layout (header, table rows, status line)"
else
	bad "after the resizes: the 80x24 layout"
fi
# a full repaint (C-l) must draw what the incremental redraw showed (the
# name columns and status line: the sweep changes only the figures)
a=$(screen | sed -n '5,24p' | cut -c1-26)
keys C-l
sleep 0.4
b=$(screen | sed -n '5,24p' | cut -c1-26)
if [ "$a" = "$b" ]; then ok "80x24 screen equals a full repaint"; else bad "80x24 screen equals a full repaint"; fi

# ---- 1c. mouse (X10 reports under TERM=tmux-256color) ----------------------------
# (the checks read the selection from "node I/N", shown when the table is
# longer than the screen: the default bundle's 20 nodes at 80x24)
keys g
if sel_is 1; then
	click 3 9
	if sel_is 5; then ok "mouse: click selects the row under the pointer"; else bad "mouse: click selects the row under the pointer"; fi
	wheel 3 9 down
	if sel_is 8; then ok "mouse: wheel down scrolls"; else bad "mouse: wheel down scrolls"; fi
	wheel 3 9 up
	if sel_is 5; then ok "mouse: wheel up scrolls"; else bad "mouse: wheel up scrolls"; fi
	keys -l "$(x10 0 3 12)$(x10 3 3 12)$(x10 0 3 12)$(x10 3 3 12)"
	if wait_for 'detail +\?:help' 2; then ok "mouse: double-click opens the detail pane"; else bad "mouse: double-click opens the detail pane"; fi
	keys Escape
	if wait_for 'layers +\?:help' 2 && sel_is 8; then ok "mouse: the double-clicked row is selected"; else bad "mouse: the double-clicked row is selected"; fi
	keys g
else
	echo "# the table fits 80x24: mouse checks skipped (they need more than 18 nodes)"
fi
$T resize-window -t qt -x 100 -y 30
sleep 0.3

if wait_for '^ ready' 300; then ok "sweep finished ($(($(date +%s) - t0)) s)"; else bad "sweep finished"; fi
if wait_for 'policy [0-9.]+%.*measured' 60; then ok "starting policy measured"; else bad "starting policy measured"; fi
if screen | sed -n '5,$p' | grep -q '·'; then bad "every heat cell filled"; else ok "every heat cell filled"; fi

# ---- 2. move, toggle: predicted at once, measured after ------------------------
pred0=$(line 3 | sed -n 's/.*predicted Δ \([-+0-9.?]*\).*/\1/p')
keys j
keys Right
# poll from the key press on: the re-evaluation may finish within a few captures,
# so the not-yet-measured state is looked for in every capture until both showed
seen_mod=0
seen_changed=0
i=0
while [ $i -lt 80 ]; do
	s=$(screen)
	if printf '%s\n' "$s" | grep -q 'modified'; then seen_mod=1; fi
	if printf '%s\n' "$s" | sed -n 2p | grep -Eq 'measuring|changed'; then seen_changed=1; fi
	if [ $seen_mod = 1 ] && [ $seen_changed = 1 ]; then break; fi
	sleep 0.0125
	i=$((i + 1))
done
if [ $seen_mod = 1 ]; then ok "toggle marks the policy modified"; else bad "toggle marks the policy modified"; fi
pred1=$(line 3 | sed -n 's/.*predicted Δ \([-+0-9.?]*\).*/\1/p')
if [ -n "$pred1" ] && [ "$pred1" != "$pred0" ]; then ok "predicted delta changed at once ($pred0 -> $pred1)"; else bad "predicted delta changed at once ($pred0 -> $pred1)"; fi
if [ $seen_changed = 1 ]; then ok "changed-but-not-measured shown"; else bad "changed-but-not-measured shown"; fi
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

# ---- 5b. automatic search (a): budget prompt, progress, one undoable edit ---------
# weights figure and quantized-node count of the header
hdr() { printf '%s|%s' "$(line 3 | sed -n 's/.*weights \([^ ]* [^ ]*\) .*/\1/p')" \
	"$(line 1 | sed -n 's/.*│  *\([0-9]*\/[0-9]*\) nodes.*/\1/p')"; }
before=$(hdr)
keys a
if wait_for 'search: max drop \(points\).*1 abs size' 2; then ok "a: asks for the budget (default shown)"; else bad "a: asks for the budget (default shown)"; fi
keys Enter
# the search first sweeps what it needs (remove runs), then evaluates
if wait_for 'search: .*(Esc/X cancels)' 20; then ok "search progress in the header"; else bad "search progress in the header"; fi
if wait_for '^ search: [0-9]+ evaluations, [0-9.]+ s: size [0-9.]+%, BitOps [0-9.]+%; drop -?[0-9.]+ \[95% CI -?[0-9.]+, -?[0-9.]+\]; u undoes' 240; then
	ok "search done: status line with evaluations, time, size, BitOps and drop"
else
	bad "search done: status line with evaluations, time, size, BitOps and drop"
fi
after=$(hdr)
if [ -n "$after" ] && [ "$after" != "$before" ]; then ok "search result applied ($before -> $after)"; else bad "search result applied ($before -> $after)"; fi
if wait_for 'policy [0-9.]+%.*measured' 10; then ok "search result: measured figures in the header"; else bad "search result: measured figures in the header"; fi
keys u
sleep 0.3
if [ "$(hdr)" = "$before" ]; then ok "u undoes the whole search result"; else bad "u undoes the whole search result ($(hdr), want $before)"; fi
keys U
sleep 0.3
if [ "$(hdr)" = "$after" ]; then ok "redo re-applies the search result"; else bad "redo re-applies the search result ($(hdr), want $after)"; fi
keys u
# the Pareto view: the search's points, its frontier starred; restoring one
keys P
if wait_for '★ search frontier  ▪ searched' 2 && [ "$(screen | sed -n '6,27p' | grep -o '★' | wc -l)" -ge 1 ]; then
	ok "Pareto: the search frontier is marked"
else
	bad "Pareto: the search frontier is marked"
fi
keys Home
i=0
while [ $i -lt 200 ] && ! screen | grep -q '^search: evaluation'; do keys l; sleep 0.05; i=$((i + 1)); done
if screen | grep -q '^search: evaluation'; then
	keys Enter
	sleep 0.3
	if [ "$(hdr)" != "$before" ] && wait_for '= current policy' 2; then ok "Pareto: Enter on a search point restores its policy"; else bad "Pareto: Enter on a search point restores its policy"; fi
	keys u
	sleep 0.3
	if [ "$(hdr)" = "$before" ]; then ok "Pareto: the restore is undoable"; else bad "Pareto: the restore is undoable"; fi
else
	bad "Pareto: a point the search evaluated can be selected"
fi
keys P
# a second search with a tight budget, cancelled midway (Esc)
keys a C-u
keys -l "0.2 ci bitops"
keys Enter
if wait_for 'search: [0-9]+/[0-9]+ evaluations' 60; then
	keys Escape
	if wait_for '^ search cancelled after [0-9]+ evaluations; the policy is unchanged' 10 && [ "$(hdr)" = "$before" ]; then
		ok "Esc cancels the search, the policy is unchanged"
	else
		bad "Esc cancels the search, the policy is unchanged"
	fi
else
	bad "the second search runs"
fi
if gone 'Esc/X cancels' 10; then ok "the search stopped"; else bad "the search stopped"; fi
# the session still works: an edit is measured
keys j Right
if wait_for 'modified' 2 && wait_for 'policy [0-9.]+%.*  measured' 60; then ok "after the cancel: an edit is measured"; else bad "after the cancel: an edit is measured"; fi

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

for sig in INT TERM HUP QUIT SEGV; do
	start "sig$sig"
	wait_for 'FP32' 5
	sleep 0.5
	i=0
	while [ ! -s "$WORK/sig$sig.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -s "$sig" "$(cat "$WORK/sig$sig.pid")"
	case $sig in INT) code=130 ;; TERM) code=143 ;; HUP) code=129 ;; QUIT) code=131 ;; SEGV) code=139 ;; esac
	finished "sig$sig" "$code"
done

# ---- 9b. crashes inside the program (QLENS_TEST_CRASH, a test-only switch): ------
# SIGSEGV and SIGABRT raised on the UI thread, a real fault on a thread that
# runs like the worker, and exit() from the middle of the loop
# (in a sanitizer build ASan would report a real fault itself and exit 1: let the
# program's own handler run, as it does in a normal build)
for mode in segv abrt segv-thread exit; do
	EXTRA_ENV="QLENS_TEST_CRASH=$mode ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:allow_user_segv_handler=1"
	start "crash-$mode"
	EXTRA_ENV=
	wait_for 'FP32' 5
	case $mode in segv | segv-thread) code=139 ;; abrt) code=134 ;; exit) code=3 ;; esac
	finished "crash-$mode" "$code"
done

# ---- 9c. a bare model: with --calib/--eval/--labels it opens like a bundle; ------
# without them it is an error exit with one clear line
DATA=$(dirname "$BUNDLE")/data/fashion-mnist
MODEL=$BUNDLE/model.onnx
if [ -f "$MODEL" ] && [ -f "$DATA/calib.npy" ] && [ -f "$DATA/eval.npy" ] && [ -f "$DATA/eval-labels.npy" ]; then
	start bare "$MODEL" --calib "$DATA/calib.npy" --eval "$DATA/eval.npy" --labels "$DATA/eval-labels.npy"
	if wait_for 'qlens . model\.onnx' 5 && wait_for '(node|#) +' 2; then ok "bare model + data files: the explorer opens"; else bad "bare model + data files: the explorer opens"; fi
	if wait_for 'FP32 [0-9]+\.[0-9]+%' 60; then ok "bare model: FP32 reference measured"; else bad "bare model: FP32 reference measured"; fi
	keys q
	finished bare 0
	start nodata "$MODEL"
	finished nodata 1
	if $T capture-pane -p -J -t qt | grep -q 'qlens: .*model\.onnx: the explorer needs calibration data'; then
		ok "nodata: one clear error line"
	else
		bad "nodata: one clear error line"
	fi
else
	echo "# no $DATA: bare-model checks skipped"
fi

# ---- 9d. --cache-mb bounds the activation caches: once the FP32 reference is
# measured, the cache it filled is in the process's peak memory; with 32 MiB it
# holds at most 16 of them, by default hundreds (fashion-mobilenet: 760 MiB)
peak_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$(cat "$WORK/$1.pid")/status" 2>/dev/null; }
for run in cachedef cache32; do
	if [ $run = cache32 ]; then start $run "$BUNDLE" --cache-mb 32; else start $run; fi
	wait_for 'FP32 [0-9]+\.[0-9]+%' 60
	sleep 0.5
	eval "peak_$run=\$(peak_kib $run)"
	keys q
	finished $run 0
done
if [ -n "$peak_cachedef" ] && [ -n "$peak_cache32" ] && [ $((peak_cachedef - peak_cache32)) -gt 102400 ]; then
	ok "--cache-mb 32: peak memory $((peak_cache32 / 1024)) MiB, default $((peak_cachedef / 1024)) MiB"
else
	bad "--cache-mb 32: peak memory ${peak_cache32:-?} KiB, default ${peak_cachedef:-?} KiB"
fi

# ---- 10. monochrome ASCII fallback -------------------------------------------------------
# (also the mouse in SGR/1006 reports, which ncurses asks for under TERM=xterm*)
EXTRA_ENV="NO_COLOR=1 QLENS_ASCII=1 TERM=xterm-256color"
GEOM=100x20
start ascii
EXTRA_ENV=
GEOM=
if wait_for 'qlens \| ' 5 && ! screen | grep -q '│'; then ok "ASCII drawing with QLENS_ASCII"; else bad "ASCII drawing with QLENS_ASCII"; fi
if sel_is 1; then
	click 3 9 sgr
	if sel_is 5; then ok "mouse (SGR): click selects the row"; else bad "mouse (SGR): click selects the row"; fi
	wheel 3 9 down sgr
	if sel_is 8; then ok "mouse (SGR): wheel scrolls"; else bad "mouse (SGR): wheel scrolls"; fi
fi
keys q
finished ascii 0

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
