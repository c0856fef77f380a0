#!/usr/bin/env bash
# The second README command (and CI's): install what is missing, build, run
# every test suite verbosely.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
BUILD_DIR=${QLENS_BUILD_DIR:-build}
meson test -C "$BUILD_DIR" -v --num-processes 2 --print-errorlogs
