#!/usr/bin/env bash
# Configures (Ninja, RelWithDebInfo) and builds everything into build/.
# Warnings are errors, debug info is line tables only and the libraries are
# unity builds, when CI=true.
# Extra arguments go to the configure step,
# e.g. `scripts/build.sh -DSAGA_SANITIZE=address`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

werror=OFF
ci_flags=()
if [[ ${CI:-} == true ]]; then
  werror=ON
  # Line tables only (-g1): a failure's backtrace keeps file:line, and the
  # build, most of a CI run, takes about a quarter less time than with -g.
  # A unity build of the libraries and programs (SAGA_UNITY_BUILD): the
  # clean build parses the gRPC, protobuf and libpqxx headers once per batch
  # of files instead of once per file.
  ci_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
    -DSAGA_UNITY_BUILD=ON)
fi

cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAGA_WERROR="$werror" "${ci_flags[@]}" "$@"
cmake --build "$BUILD_DIR" -j"$(nproc)"
