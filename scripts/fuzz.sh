#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, then fuzz each harness for SECONDS (default 60),
# one after the other, as one niced process.  Prints the executions and the
# exit status of every harness; exits non-zero when any harness found a crash,
# leak, timeout or out-of-memory input (saved under $QLENS_FUZZ_DIR/artifacts).
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]   HARNESS: onnx tensor npy bundle policy sweepio
#
# Environment: QLENS_FUZZ_DIR (build folder, default build-fuzz),
# QLENS_FUZZ_SECONDS (default 60, overridden by the argument), QLENS_FUZZ_RUNS
# (stop each harness after this many executions, or after SECONDS, whichever
# comes first; for long campaigns), QLENS_FUZZ_NICE (default 10).  The corpus
# each run grows is kept in $QLENS_FUZZ_DIR/corpus/HARNESS and reused by the
# next run; the committed seeds (tests/fuzz/corpus/HARNESS) are only read.
# docs/fuzzing.md explains long campaigns and how to reproduce a finding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER=${1:-${QLENS_FUZZ_SECONDS:-60}}
shift || true
FUZZ_DIR=${QLENS_FUZZ_DIR:-build-fuzz}
ALL=(onnx tensor npy bundle policy sweepio)
WANT=("$@")
((${#WANT[@]})) || WANT=("${ALL[@]}")

if ! [[ "$SECONDS_PER" =~ ^[0-9]+$ ]] || ((SECONDS_PER < 1)); then
	echo "fuzz: SECONDS must be a positive integer, not '$SECONDS_PER'" >&2
	exit 2
fi
RUNS=${QLENS_FUZZ_RUNS:--1}
NICE=${QLENS_FUZZ_NICE:-10}
if ! [[ "$RUNS" =~ ^(-1|[0-9]+)$ ]] || ! [[ "$NICE" =~ ^[0-9]+$ ]]; then
	echo "fuzz: QLENS_FUZZ_RUNS and QLENS_FUZZ_NICE must be integers" >&2
	exit 2
fi

# libFuzzer ships with clang's runtime (Debian: libclang-rt-14-dev, installed
# by scripts/setup.sh); check it links before configuring anything.
CLANG=${CC:-clang}
[[ "$CLANG" == *clang* ]] || CLANG=clang
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$CLANG" -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
	echo "fuzz: '$CLANG -fsanitize=fuzzer' does not link; install clang and libclang-rt-14-dev" >&2
	cat "$probe/err" >&2
	exit 2
fi

if [ ! -f "$FUZZ_DIR/build.ninja" ]; then
	CC="$CLANG" meson setup "$FUZZ_DIR" -Dfuzz=true -Dbuildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
targets=()
for h in "${WANT[@]}"; do
	case " ${ALL[*]} " in *" $h "*) ;; *) echo "fuzz: unknown harness '$h'" >&2; exit 2 ;; esac
	targets+=("tests/fuzz/fuzz_$h")
done
nice -n 10 ninja -C "$FUZZ_DIR" "${targets[@]}" >/dev/null || nice -n 10 ninja -C "$FUZZ_DIR" "${targets[@]}"

# Extra read-only seeds: ONNX's node-test models cover every operator.
NODE_TESTS=/usr/share/libonnx-testdata/data/node
SEEDS="$FUZZ_DIR/seeds"
if [ -d "$NODE_TESTS" ] && [ ! -d "$SEEDS/onnx" ]; then
	mkdir -p "$SEEDS/onnx.tmp"
	for m in "$NODE_TESTS"/*/model.onnx; do
		[ "$(stat -c %s "$m")" -le 4096 ] || continue
		t=${m%/model.onnx}
		cp "$m" "$SEEDS/onnx.tmp/${t##*/}.onnx"
	done
	mv "$SEEDS/onnx.tmp" "$SEEDS/onnx"
fi

# Largest input per harness: real files are bigger, but structure, not size,
# is what these parsers get wrong.
declare -A MAX_LEN=([onnx]=16384 [tensor]=4096 [npy]=4096 [bundle]=4096 [policy]=16384 [sweepio]=16384)

export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$FUZZ_DIR/artifacts" "$FUZZ_DIR/logs"
failed=0
for target in "${targets[@]}"; do
	h=${target#tests/fuzz/fuzz_}
	corpus="$FUZZ_DIR/corpus/$h"
	mkdir -p "$corpus"
	dirs=("$corpus" "tests/fuzz/corpus/$h")
	[ -d "$SEEDS/$h" ] && dirs+=("$SEEDS/$h")
	[ "$h" = onnx ] && dirs+=(tests/hostile/onnx)
	dict=()
	[ -f "tests/fuzz/$h.dict" ] && dict=(-dict="tests/fuzz/$h.dict")
	log="$FUZZ_DIR/logs/fuzz_$h.log"
	t0=$(date +%s)
	set +e
	nice -n "$NICE" "$FUZZ_DIR/$target" -max_total_time="$SECONDS_PER" -runs="$RUNS" -timeout=10 \
		-rss_limit_mb=2048 -max_len="${MAX_LEN[$h]}" -print_final_stats=1 \
		-artifact_prefix="$FUZZ_DIR/artifacts/${h}-" "${dict[@]}" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	set -e
	took=$(($(date +%s) - t0))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	printf 'fuzz_%s: %s executions in %s s (%s/s), corpus %s files, exit status %d\n' \
		"$h" "${execs:-?}" "$took" "${rate:-?}" "$(ls "$corpus" | wc -l)" "$rc"
	if [ "$rc" -ne 0 ]; then
		failed=1
		echo "fuzz_$h: FAILED; log $log; input:" >&2
		grep -a -E '^(==[0-9]+==ERROR|SUMMARY|fuzz check failed|artifact_prefix)' "$log" >&2 ||
			tail -20 "$log" >&2
	fi
done
exit "$failed"
