#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser tests (tests/ui) when they are missing.
# Never fails the build: where the browser cannot be installed (not root, no apt-get, no network),
# it says so loudly and the browser tests skip with the reason (METASTUDIO_UI_REQUIRED=1 makes that
# a failure). The tests never download a browser of their own.
set -uo pipefail
CHROMIUM="${METASTUDIO_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
why=""
if [ "$(id -u)" != "0" ]; then
    why="not root (run: sudo apt-get install -y chromium chromium-driver)"
elif ! command -v apt-get >/dev/null; then
    why="no apt-get on this machine (install Chromium and point METASTUDIO_CHROMIUM at it)"
else
    echo "Installing Debian's chromium and chromium-driver for the browser tests (tests/ui)..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -qq chromium chromium-driver >/tmp/metastudio-install-browser.log 2>&1 \
        || { apt-get update -qq >>/tmp/metastudio-install-browser.log 2>&1 \
             && apt-get install -y -qq chromium chromium-driver >>/tmp/metastudio-install-browser.log 2>&1; }; then
        echo "Installed: $("$CHROMIUM" --version 2>/dev/null)"
        exit 0
    fi
    why="apt-get install chromium chromium-driver failed (see /tmp/metastudio-install-browser.log)"
fi
printf '%s\n' "$(printf '!%.0s' {1..100})" \
    "BROWSER TESTS WILL BE SKIPPED: no Chromium at $CHROMIUM: $why" \
    "$(printf '!%.0s' {1..100})" >&2
exit 0
