#!/usr/bin/env bash
# What the browser tests need, installed by `make test`: Debian's chromium and chromium-driver
# (with apt, only when missing and only as root: CI runs as root on a fresh machine) and
# axe-core from npm (pinned in package-lock.json, into tests/browser/node_modules). Anything it
# cannot install is left for the tests to report: they skip with how to enable them, or fail
# when BROWSER_TESTS=required (.ci/run).
set -uo pipefail
cd "$(dirname "$0")"
if ! dpkg -s chromium chromium-driver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "browser tests: installing chromium and chromium-driver with apt"
        { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } \
            || echo "browser tests: apt could not install chromium chromium-driver"
    else
        echo "browser tests will skip: sudo apt-get install chromium chromium-driver to run them"
    fi
fi
if [ ! -f node_modules/axe-core/axe.min.js ] || [ package-lock.json -nt node_modules/axe-core/axe.min.js ]; then
    if command -v npm >/dev/null; then
        npm ci --no-audit --no-fund --loglevel=error && touch node_modules/axe-core/axe.min.js
    else
        echo "browser tests will skip: no npm to install axe-core (npm ci --prefix tests/browser)"
    fi
fi
exit 0
