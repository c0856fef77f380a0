#!/usr/bin/env bash
# The first README command: install what is missing, build, open the qlens
# explorer on the default sample bundle (or on the bundle or model given).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec "${QLENS_BUILD_DIR:-build}/ui/qlens" "$@"
