#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into
# build-fuzz/ (only the pure core and the fuzzers, not the whole tree) and
# runs each for a bounded time, starting from its seed corpus.
#
#   scripts/fuzz.sh [SECONDS]    seconds per target (default 60)
#
# FUZZ_TARGETS="saga_input" picks targets; FUZZ_BUILD_DIR moves the build.
# Inputs the run discovers go to a temporary directory, not the repository;
# a crashing input is saved under $FUZZ_BUILD_DIR/artifacts/ and printed:
# fix the bug, add a regression test and copy the input into
# tests/fuzz/corpus/<target>/. Prints one line per target:
#   fuzz: <target> executions=N seconds=S new_inputs=K
# and exits non-zero if a target found a crash or a failed property.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_PER_TARGET=${1:-60}
TARGETS=${FUZZ_TARGETS:-definition_loader saga_input}

[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] ||
  { echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2; }
command -v clang++ >/dev/null ||
  { echo "fuzz.sh: clang++ not found (scripts/install-deps.sh installs it)" >&2; exit 1; }

werror=OFF
[[ ${CI:-} == true ]] && werror=ON
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DSAGA_FUZZ=ON -DSAGA_WERROR="$werror" \
  "${launcher[@]}" >/dev/null
binaries=()
for target in $TARGETS; do binaries+=("${target}_fuzzer"); done
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${binaries[@]}"

ARTIFACTS=$BUILD_DIR/artifacts
WORK=$(mktemp -d /tmp/saga-fuzz.XXXXXX)
trap 'rm -rf -- "$WORK"' EXIT
mkdir -p "$ARTIFACTS"

status=0
for target in $TARGETS; do
  seeds=$ROOT/tests/fuzz/corpus/$target
  mkdir -p "$WORK/$target"
  log=$WORK/$target.log
  # New inputs go to the first directory; the seeds are only read.
  run_fuzzer() {
    "$BUILD_DIR/bin/${target}_fuzzer" -max_total_time="$SECONDS_PER_TARGET" \
      -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
      -artifact_prefix="$ARTIFACTS/${target}-" "$@" "$WORK/$target" "$seeds" \
      >"$log" 2>&1
  }
  rc=0
  run_fuzzer || rc=$?
  # LeakSanitizer stops the world with ptrace, which some containers forbid;
  # that is the sandbox failing, not the code: fuzz on without leak checks.
  if [[ $rc -ne 0 ]] && grep -q 'LeakSanitizer has encountered a fatal error' "$log"; then
    echo "fuzz: $target: LeakSanitizer cannot run here; fuzzing without leak detection" >&2
    rc=0
    run_fuzzer -detect_leaks=0 || rc=$?
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  found=$(find "$WORK/$target" -type f | wc -l)
  echo "fuzz: $target executions=${executions:-?} seconds=$SECONDS_PER_TARGET new_inputs=$found"
  if [[ $rc -ne 0 ]]; then
    status=1
    echo "fuzz: $target FAILED (exit $rc); last lines of its log:" >&2
    tail -n 60 "$log" >&2
    ls -l "$ARTIFACTS" >&2
  fi
done
exit "$status"
