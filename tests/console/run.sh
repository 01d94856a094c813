#!/usr/bin/env bash
# The web console's tests in a real browser: Debian's chromium, driven by
# playwright-core (pinned in package-lock.json; it downloads no browser).
# Usage: tests/console/run.sh [BUILD_DIR]   (ctest runs it as
# console_browser_itest). Needs the built binaries in BUILD_DIR/bin and
# SAGA_TEST_ADMIN_DSN (scripts/test.sh sets it). node_modules is installed
# with `npm ci` into BUILD_DIR/console-tests and kept until the lock file
# changes; screenshots land in BUILD_DIR/console-tests/screenshots.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=$(cd "${1:-$HERE/../../build}" && pwd)
WORK=$BUILD_DIR/console-tests
mkdir -p "$WORK"

command -v node >/dev/null || { echo "console tests: node is missing (scripts/install-deps.sh)" >&2; exit 1; }
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] ||
  { echo "console tests: ${CHROMIUM:-/usr/bin/chromium} is missing (scripts/install-deps.sh)" >&2; exit 1; }

if ! cmp -s "$HERE/package-lock.json" "$WORK/package-lock.json" ||
  [[ ! -d $WORK/node_modules/playwright-core ]]; then
  cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/"
  (cd "$WORK" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

export SAGA_BUILD_DIR=$BUILD_DIR CONSOLE_NODE_MODULES=$WORK/node_modules
exec node --test "$HERE/timeline_model.test.mjs" "$HERE/console.test.mjs"
