#!/usr/bin/env bash
# nolost.sh QLENS WSHIM.so SOURCE_ROOT [KILLS]
#
# No lost files: qlens replaces files through src/fileio.c's atomic writer
# (temporary in the same folder, fsync, rename, fsync of the folder).  This
# test checks what that promises, on the program itself:
#
#  1. SIGKILL at random moments, KILLS times (default 50) for each of two
#     writers - `qlens policy BUNDLE --preset int8 --out T.json` and
#     `qlens export BUNDLE --policy P --qdq T.onnx` - while the target holds a
#     different, complete old version.  Afterwards the target is byte-identical
#     to the old file or to the new one, every time.  The write itself is
#     stretched by the LD_PRELOAD shim (wshim.c: 256-byte writes, 4 ms apart)
#     and the test watches for the temporary to appear, so most kills land
#     inside the write; the rest land at random earlier moments.  A kill inside
#     the write leaves the temporary (".T.json.<pid>.<n>.tmp": nothing can
#     clean up after SIGKILL); the next save of the target removes it.
#  2. A full disk (the shim makes write() or fsync() fail with ENOSPC on the
#     temporary) for policy, export and sweep --json/--csv: non-zero exit,
#     exactly one error line naming the file, the old file intact, no
#     temporary left.
#
# Works for the normal and the AddressSanitizer build (libasan is put first
# in LD_PRELOAD when qlens links it).
set -u
QLENS=$(realpath "$1") SHIM=$(realpath "$2") ROOT=$3 KILLS=${4:-${QLENS_NOLOST_KILLS:-50}}
export OPENBLAS_NUM_THREADS=1
fail=0
bad() { echo "FAIL: $*"; fail=1; }

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# ---- a small bundle: tests/integration/ort/tiny.onnx, 64 Fashion-MNIST samples ----
DATA=$ROOT/sample-models/data/fashion-mnist
for f in "$ROOT/tests/integration/ort/tiny.onnx" "$DATA/calib.npy" "$DATA/eval.npy" "$DATA/eval-labels.npy"; do
	if [ ! -f "$f" ]; then
		echo "SKIP: $f is missing"
		exit 77
	fi
done
# npy OUT DESCR SHAPE SRC BYTES: an .npy with a 128-byte header and the first
# BYTES bytes of SRC's data (SRC has a 128-byte header too; checked below).
npy() {
	local hdr="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
	{
		printf '\223NUMPY\001\000\166\000%s' "$hdr"
		printf '%*s\n' $((117 - ${#hdr})) ''
		tail -c +129 "$4" | head -c "$5"
	} >"$1"
}
for f in calib.npy eval.npy eval-labels.npy; do
	[ "$(head -c 10 "$DATA/$f" | od -An -tu1 | tr -s ' ')" = " 147 78 85 77 80 89 1 0 118 0" ] ||
		{ echo "SKIP: $DATA/$f does not have a 128-byte header"; exit 77; }
done
B=$W/bundle
mkdir -p "$B"
cp "$ROOT/tests/integration/ort/tiny.onnx" "$B/model.onnx"
npy "$B/calib.npy" '<f4' '(64, 1, 28, 28)' "$DATA/calib.npy" $((64 * 784 * 4))
npy "$B/eval.npy" '<f4' '(64, 1, 28, 28)' "$DATA/eval.npy" $((64 * 784 * 4))
npy "$B/labels.npy" '<i8' '(64,)' "$DATA/eval-labels.npy" $((64 * 8))
cat >"$B/bundle.json" <<'EOF'
{ "format": "qlens-bundle", "version": 1, "name": "tiny", "model": "model.onnx", "input": "input",
  "calibration": { "data": "calib.npy" },
  "evaluation": { "data": "eval.npy", "labels": "labels.npy" },
  "task": { "type": "classification", "metric": "top1" } }
EOF

LIBASAN=$(ldd "$QLENS" 2>/dev/null | sed -n 's/^[[:space:]]*libasan[^ ]* => \([^ ]*\) .*/\1/p')
PRELOAD=$SHIM
[ -n "$LIBASAN" ] && PRELOAD=$LIBASAN:$SHIM
# ASan's leak check would report the memory of a killed run: it never runs after
# SIGKILL, and a refused save exits through the normal path anyway.
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0

# shimmed MODE TARGET_BASE CMD...: run CMD with the shim on TARGET_BASE's temporary
shimmed() {
	local mode=$1 target=$2
	shift 2
	LD_PRELOAD=$PRELOAD QLENS_SHIM_MODE=$mode QLENS_SHIM_TARGET=$target "$@"
}

O=$W/out
mkdir -p "$O"
NC=(--threads 1 --no-cache)
POLICY_CMD=("$QLENS" policy "$B" --preset int8 --out "$O/t.json" --threads 1)
EXPORT_CMD=("$QLENS" export "$B" --policy "$W/new.json" --qdq "$O/t.onnx" --threads 1)
"$QLENS" policy "$B" --preset w8a16 --out "$W/old.json" --threads 1 >/dev/null 2>&1 ||
	{ bad "qlens policy (old) failed"; exit 1; }
"$QLENS" policy "$B" --preset int8 --out "$W/new.json" --threads 1 >/dev/null 2>&1 ||
	{ bad "qlens policy (new) failed"; exit 1; }
"$QLENS" export "$B" --policy "$W/old.json" --qdq "$W/old.onnx" --threads 1 >/dev/null 2>&1 ||
	{ bad "qlens export (old) failed"; exit 1; }
"$QLENS" export "$B" --policy "$W/new.json" --qdq "$W/new.onnx" --threads 1 >/dev/null 2>&1 ||
	{ bad "qlens export (new) failed"; exit 1; }
cmp -s "$W/old.json" "$W/new.json" && bad "old and new policy are equal"
cmp -s "$W/old.onnx" "$W/new.onnx" && bad "old and new export are equal"

# the shim must really be in effect: a slow write of the new policy still gives it
cp "$W/old.json" "$O/t.json"
shimmed slow t.json "${POLICY_CMD[@]}" >/dev/null 2>&1
cmp -s "$O/t.json" "$W/new.json" || bad "a slow (shimmed) policy write did not give the new file"

now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
exec {SLEEPFD}<> <(:)
nap_ms() { read -r -t "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))" -u "$SLEEPFD" || true; }
tmps() { compgen -G "$O/.$1.*.tmp" | wc -l; }

# kill_loop NAME TARGET OLD NEW CMD...: KILLS runs of CMD, each killed with SIGKILL.
# Even runs: the shim kills at a random step of the save (a write of 256 bytes,
# the fsync, just before or just after the rename).  Odd runs: kill -KILL from
# here after a random delay within the whole run, writes stretched by the shim.
kill_loop() {
	local name=$1 target=$2 old=$3 new=$4
	shift 4
	local base=${target##*/} n_old=0 n_new=0 n_mid=0 n_torn=0 steps t0 t1 span pid i
	rm -f "$O"/.*.tmp
	# unkilled runs: how many steps the save has, how long a stretched run takes
	cp "$old" "$target"
	QLENS_SHIM_KILL_AT=0 QLENS_SHIM_STEPS=$W/steps shimmed kill "$base" "$@" >/dev/null 2>&1
	steps=$(cat "$W/steps" 2>/dev/null || echo 0)
	cmp -s "$target" "$new" || bad "$name: an unkilled run did not write the new file"
	((steps >= 4)) || { bad "$name: the shim saw $steps steps of the save"; return; }
	t0=$(now_ms)
	shimmed slow "$base" "$@" >/dev/null 2>&1
	t1=$(now_ms)
	span=$((t1 - t0 + 20))
	for ((i = 0; i < KILLS; i++)); do
		cp "$old" "$target"
		local before
		before=$(tmps "$base")
		if ((i % 2 == 0)); then
			# (bash reports the killed command on its stderr)
			{ QLENS_SHIM_KILL_AT=$((1 + RANDOM % steps)) shimmed kill "$base" "$@"; } >/dev/null 2>&1
		else
			# (no function in between: $! must be qlens itself)
			LD_PRELOAD=$PRELOAD QLENS_SHIM_MODE=slow QLENS_SHIM_TARGET=$base "$@" >/dev/null 2>&1 &
			pid=$!
			nap_ms $((RANDOM % span))
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
		if cmp -s "$target" "$old"; then
			n_old=$((n_old + 1))
		elif cmp -s "$target" "$new"; then
			n_new=$((n_new + 1))
		else
			n_torn=$((n_torn + 1))
			cp "$target" "$W/torn-$name-$i"
		fi
		(($(tmps "$base") > before)) && n_mid=$((n_mid + 1))
	done
	local left
	left=$(tmps "$base")
	echo "$name: $KILLS kills ($steps steps in a save, a stretched run ${span} ms): target old $n_old," \
		"new $n_new, neither $n_torn; $n_mid kills left a temporary ($left left in total)"
	((n_torn == 0)) || bad "$name: $n_torn kills left a target that is neither the old nor the new file"
	# the kills must have hit the write itself, or this test proves nothing
	((n_mid * 10 >= KILLS)) || bad "$name: only $n_mid of $KILLS kills landed inside the write"
	# the next save removes the dead processes' temporaries (once 10 s old: src/fileio.c)
	if ((left)); then
		touch -d '-1 minute' "$O"/."$base".*.tmp
		cp "$old" "$target"
		"$@" >/dev/null 2>&1 || bad "$name: a save after the kills failed"
		cmp -s "$target" "$new" || bad "$name: a save after the kills did not write the new file"
		(($(tmps "$base") == 0)) || bad "$name: the next save left $(tmps "$base") stale temporaries"
	fi
}

kill_loop policy "$O/t.json" "$W/old.json" "$W/new.json" "${POLICY_CMD[@]}"
kill_loop export "$O/t.onnx" "$W/old.onnx" "$W/new.onnx" "${EXPORT_CMD[@]}"

# ---- a full disk -------------------------------------------------------------------
# full NAME MODE TARGET OLD CMD...: the save fails with one line naming TARGET
full() {
	local name=$1 mode=$2 target=$3 old=$4 base=${3##*/}
	shift 4
	cp "$old" "$target"
	shimmed "$mode" "$base" "$@" >"$W/stdout" 2>"$W/stderr"
	local rc=$? lines
	# sweep's progress lines ("qlens sweep:  66% ...") are not errors
	grep -Ev '^qlens sweep: +[0-9]+% ' "$W/stderr" >"$W/errors"
	lines=$(wc -l <"$W/errors")
	if ((rc == 0)); then
		bad "$name ($mode): exit status 0 on a full disk"
	elif ((lines != 1)); then
		bad "$name ($mode): $lines error lines instead of 1:"
		cat "$W/errors"
	elif ! grep -q "$target.*No space left on device" "$W/errors"; then
		bad "$name ($mode): the error does not name $target and ENOSPC: $(cat "$W/errors")"
	else
		echo "$name ($mode): exit $rc, '$(cat "$W/errors")'"
	fi
	cmp -s "$target" "$old" || bad "$name ($mode): the old file was changed"
	(($(tmps "$base") == 0)) || bad "$name ($mode): a temporary was left"
}
for mode in enospc fsync; do
	full policy $mode "$O/t.json" "$W/old.json" "${POLICY_CMD[@]}"
	full export $mode "$O/t.onnx" "$W/old.onnx" "${EXPORT_CMD[@]}"
done
# sweep --json / --csv (a small sweep: one candidate, no cache)
echo '{"old": true}' >"$W/old-sweep.json"
echo 'old,csv' >"$W/old-sweep.csv"
SWEEP_CMD=("$QLENS" sweep "$B" --candidates int8 "${NC[@]}")
if "${SWEEP_CMD[@]}" --json "$W/probe.json" >/dev/null 2>&1; then
	full "sweep --json" enospc "$O/s.json" "$W/old-sweep.json" "${SWEEP_CMD[@]}" --json "$O/s.json"
	full "sweep --csv" enospc "$O/s.csv" "$W/old-sweep.csv" "${SWEEP_CMD[@]}" --csv "$O/s.csv"
else
	bad "'${SWEEP_CMD[*]} --json FILE' failed"
fi

exit $fail
