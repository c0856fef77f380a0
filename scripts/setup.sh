#!/usr/bin/env bash
# Installs what qlens needs on Debian 12 (only what is missing; silent when
# everything is there) and builds it into ./build.  Sourced by start.sh and
# test.sh; run it alone to just install and build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# clang + libclang-rt-14-dev: libFuzzer for scripts/fuzz.sh
QLENS_PACKAGES=(gcc pkg-config meson ninja-build
	libprotobuf-c-dev protobuf-c-compiler libopenblas-dev libcjson-dev libcmocka-dev
	libncurses-dev libonnx-dev libonnx-testdata tmux clang libclang-rt-14-dev)

missing=()
for p in "${QLENS_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}" >&2
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ONNX Runtime for Node (the reference runtime of tests and benchmarks).  Its
# postinstall would download a CUDA provider, which fails here: skip it; the
# CPU library ships inside the package.
if [ -f package-lock.json ] && [ ! -d node_modules/onnxruntime-node ]; then
	echo "setup: installing onnxruntime-node from package-lock.json" >&2
	ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

BUILD_DIR=${QLENS_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
	meson setup "$BUILD_DIR" >/dev/null
fi
ninja -C "$BUILD_DIR" >/dev/null || ninja -C "$BUILD_DIR"
