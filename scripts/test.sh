#!/usr/bin/env bash
# The second README command (and CI's): install what is missing, build, run
# every test suite verbosely; then rebuild with AddressSanitizer and
# UndefinedBehaviorSanitizer and run every suite again; then fuzz every parser
# for 50 s each (scripts/fuzz.sh, clang + libFuzzer); then run the threaded
# tests (worker, queue, cancellation, concurrent saves) under ThreadSanitizer.
#
# Skip steps locally: QLENS_SKIP_SANITIZERS=1 (ASan and TSan), QLENS_FUZZ=0,
# QLENS_TSAN=0; QLENS_FUZZ_SECONDS sets the fuzzing time per harness.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
BUILD_DIR=${QLENS_BUILD_DIR:-build}
meson test -C "$BUILD_DIR" -v --num-processes 2 --print-errorlogs

if [ "${QLENS_SKIP_SANITIZERS:-0}" != 1 ]; then
	ASAN_DIR=${QLENS_ASAN_DIR:-build-asan}
	if [ ! -f "$ASAN_DIR/build.ninja" ]; then
		meson setup "$ASAN_DIR" -Dbuildtype=debugoptimized \
			-Db_sanitize=address,undefined >/dev/null
	fi
	ninja -C "$ASAN_DIR" >/dev/null || ninja -C "$ASAN_DIR"
	# The whole suite: the ort test's node starts the ASan qlens (ASAN_OPTIONS
	# is inherited); tests/safety/nolost.sh puts libasan first in LD_PRELOAD
	# and turns the leak check off for the runs it kills.
	# test_session on 64 evaluation samples: the normal build runs it on 256
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 QLENS_TEST_EVAL_N=64 \
		meson test -C "$ASAN_DIR" -v --num-processes 2 --print-errorlogs \
		--timeout-multiplier 3
fi

# libFuzzer harnesses (clang), 60 s each; QLENS_FUZZ=0 skips them.
if [ "${QLENS_FUZZ:-1}" != 0 ]; then
	bash scripts/fuzz.sh "${QLENS_FUZZ_SECONDS:-50}"
fi

# ThreadSanitizer (gcc): only the tests that run threads - the session's worker,
# queue and cancellation (session), concurrent atomic saves (fileio), the
# threaded executor (exec).  TSan's shadow memory needs a fixed layout; where
# the kernel randomizes mmap more than it expects (vm.mmap_rnd_bits > 28)
# setarch -R turns address randomization off for the run.
if [ "${QLENS_SKIP_SANITIZERS:-0}" != 1 ] && [ "${QLENS_TSAN:-1}" != 0 ]; then
	TSAN_DIR=${QLENS_TSAN_DIR:-build-tsan}
	TSAN_TESTS=(session fileio exec)
	if [ ! -f "$TSAN_DIR/build.ninja" ]; then
		meson setup "$TSAN_DIR" -Dbuildtype=debugoptimized -Db_sanitize=thread >/dev/null
	fi
	targets=()
	for t in "${TSAN_TESTS[@]}"; do targets+=("tests/unit/test_$t"); done
	ninja -C "$TSAN_DIR" "${targets[@]}" >/dev/null || ninja -C "$TSAN_DIR" "${targets[@]}"
	norand=()
	if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]; then
		norand=(setarch "$(uname -m)" -R)
	fi
	# test_session on 32 evaluation samples (its default 256 takes many minutes under TSan)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OPENBLAS_NUM_THREADS=1 QLENS_TEST_EVAL_N=32 \
		"${norand[@]}" meson test -C "$TSAN_DIR" -v --no-rebuild --print-errorlogs \
		--timeout-multiplier 10 "${TSAN_TESTS[@]}"
fi
