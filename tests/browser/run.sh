#!/usr/bin/env bash
# The dashboard's browser test: Debian's chromium (installed when missing),
# the test's npm packages, the debug `hongxin` binary, then node's test runner.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ ! -x /usr/bin/chromium ]]; then
  echo "browser test: installing chromium from Debian" >&2
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)

cargo build -q -p hongxin
export HONGXIN_BIN="${HONGXIN_BIN:-target/debug/hongxin}"
exec node --test --test-concurrency=1 tests/browser/
