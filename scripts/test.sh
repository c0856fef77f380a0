#!/usr/bin/env bash
# The second README command (and CI's): install what is missing, build, run
# every test suite verbosely; then rebuild with AddressSanitizer and
# UndefinedBehaviorSanitizer and run the unit and conformance suites again;
# then fuzz every parser for a minute (scripts/fuzz.sh, clang + libFuzzer).
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
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C "$ASAN_DIR" -v --num-processes 2 --print-errorlogs \
		--suite unit --suite conformance
fi

# libFuzzer harnesses (clang), 60 s each: opt-in with QLENS_FUZZ=1 until the clang
# fuzz build is verified end to end on a fresh machine; QLENS_FUZZ_SECONDS sets the time.
if [ "${QLENS_FUZZ:-0}" = 1 ]; then
	bash scripts/fuzz.sh "${QLENS_FUZZ_SECONDS:-60}"
fi
