#!/usr/bin/env bash
# Configures (Ninja, RelWithDebInfo) and builds everything into build/.
# Warnings are errors when CI=true. Extra arguments go to the configure step,
# e.g. `scripts/build.sh -DSAGA_SANITIZE=address`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

werror=OFF
[[ ${CI:-} == true ]] && werror=ON

cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAGA_WERROR="$werror" "$@"
cmake --build "$BUILD_DIR" -j"$(nproc)"
