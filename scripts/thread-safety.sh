#!/usr/bin/env bash
# Checks the lock annotations of the orchestrator's code with clang's
# thread-safety analysis: every member marked ABSL_GUARDED_BY(mu) is touched
# only with mu held, every function marked ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu)
# is called only with it held (see orchestrator/sync/mutex.h). Compiles
# nothing: it runs clang++ -fsyntax-only over the orchestrator's .cc files
# that can touch a guarded member (tests aside) with the flags of the build's
# compile_commands.json, so run scripts/build.sh first (it generates the
# protobuf headers these files include). Exits non-zero on any finding.
#
#   scripts/thread-safety.sh          BUILD_DIR moves the build it reads.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
COMMANDS=$BUILD_DIR/compile_commands.json
CLANG=${CLANG:-clang++}
FLAGS=(-fsyntax-only -Wthread-safety -Werror=thread-safety)

command -v "$CLANG" >/dev/null ||
  { echo "thread-safety.sh: $CLANG not found (scripts/install-deps.sh installs clang)" >&2; exit 1; }
[[ -f $COMMANDS ]] ||
  { echo "thread-safety.sh: no $COMMANDS; run scripts/build.sh first" >&2; exit 1; }

# The analysis must be live: a guarded member read without its lock has to
# be refused, or a header change could turn every annotation into nothing.
probe='#include "orchestrator/sync/mutex.h"
struct Probe { saga::sync::Mutex mu; int n ABSL_GUARDED_BY(mu) = 0; };
int Read(Probe& p) { return p.n; }'
if "$CLANG" -x c++ -std=c++20 -I"$ROOT" "${FLAGS[@]}" - <<<"$probe" 2>/dev/null; then
  echo "thread-safety.sh: clang accepted an unguarded read; the annotations are not checked" >&2
  exit 1
fi

# Only translation units that can touch a guarded member are checked: those
# that declare one or include, directly or through other headers of the
# tree, a header that does (members are private, so no other file can).
cd "$ROOT"
base='orchestrator/sync/mutex\.h|ABSL_GUARDED_BY'
pattern=$base
headers=""
while true; do
  found=$(grep -rlE --include='*.h' "$pattern" orchestrator | sort)
  [[ $found == "$headers" ]] && break
  headers=$found
  pattern="$base|$(printf '%s\n' "$headers" | sed 's/\./\\./g' | paste -sd'|')"
done
files=$(mktemp /tmp/thread-safety-files.XXXXXX)
jobs=$(mktemp /tmp/thread-safety.XXXXXX)
trap 'rm -f -- "$files" "$jobs"' EXIT
grep -rlE --include='*.cc' "$pattern" orchestrator | sed "s|^|$ROOT/|" >"$files"
# A unity build (SAGA_UNITY_BUILD) compiles batch files that include several
# sources; a batch that includes one of the files is checked whole.
sed 's/.*/#include "&"/' "$files" |
  grep -rlF -f - --include='unity_*.cxx' "$BUILD_DIR" >>"$files" || true

# compile_commands.json as CMake writes it: one "key": "value" per line.
# Each entry becomes: cd <directory> && <clang> <its flags> <FLAGS>, with
# the compiler, the output file and the warning flags dropped (gcc's flags
# are not clang's; only the thread-safety findings matter here).
awk '
  FNR == NR { wanted[$0] = 1; next }
  /^ *"directory":/ { dir = $0; sub(/^ *"directory": "/, "", dir); sub(/",?$/, "", dir) }
  /^ *"command":/   { cmd = $0; sub(/^ *"command": "/, "", cmd); sub(/",?$/, "", cmd) }
  /^ *"file":/ {
    file = $0; sub(/^ *"file": "/, "", file); sub(/",?$/, "", file)
    if ((file in wanted) && file !~ /_(test|pgtest|itest)\.cc$/) {
      gsub(/\\"/, "\"", cmd)
      sub(/^[^ ]+ /, "", cmd)                 # the compiler
      gsub(/ -o [^ ]+/, "", cmd)              # the object file
      gsub(/ -W[^ ]*| -w| -g[^ ]*/, "", cmd)  # warnings, debug info
      print "cd " dir " && '"$CLANG"' " cmd " '"${FLAGS[*]}"'"
    }
  }' "$files" "$COMMANDS" | sort -u >"$jobs"

count=$(wc -l <"$jobs")
[[ $count -gt 0 ]] || { echo "thread-safety.sh: no orchestrator files in $COMMANDS" >&2; exit 1; }
start=$(date +%s)
status=0
xargs -d '\n' -P "$(nproc)" -I{} bash -c '{}' <"$jobs" || status=$?
echo "thread-safety.sh: $count files checked in $(($(date +%s) - start)) s" \
  "($([[ $status -eq 0 ]] && echo clean || echo 'findings above'))"
exit "$status"
