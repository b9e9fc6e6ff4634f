#!/usr/bin/env bash
# The dashboard's browser test: Debian's chromium and a Chinese font
# (installed when missing), the test's npm packages, the debug `hongxin`
# binary, then node's test runner. Screenshots land in target/browser/.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
if ((${#missing[@]})); then
  echo "browser test: installing ${missing[*]} from Debian" >&2
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)

cargo build -q -p hongxin
export HONGXIN_BIN="${HONGXIN_BIN:-${CARGO_TARGET_DIR:-target}/debug/hongxin}"
exec node --test --test-concurrency=1 tests/browser/*.test.mjs
