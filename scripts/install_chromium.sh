#!/usr/bin/env bash
# Make Debian's chromium available for the Playwright browser tests.
#
# Playwright cannot download its own browsers on a closed network, so the tests
# drive the distribution's /usr/bin/chromium through `executable_path`. This
# script installs it with apt when it is missing and we are allowed to
# (root + apt-get). It always exits 0 and says what happened: when chromium is
# still missing, the browser tests skip themselves with the reason.
set -u

say() { printf 'install_chromium: %s\n' "$*"; }

find_chromium() {
    for candidate in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

if path="$(find_chromium)"; then
    say "chromium already present at $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    say "chromium is missing and this is not root: not installing (browser tests will be skipped)."
    say "to install it yourself: sudo apt-get update && sudo apt-get install -y chromium"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    say "chromium is missing and apt-get is not available: browser tests will be skipped."
    exit 0
fi

say "chromium is missing: installing Debian's chromium with apt-get (this takes a minute)..."
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
    say "apt-get update failed: browser tests will be skipped."
    exit 0
fi
if ! apt-get install -y -qq chromium >/dev/null; then
    say "apt-get install chromium failed: browser tests will be skipped."
    exit 0
fi
# Readable text in screenshots; optional, so a failure here changes nothing.
apt-get install -y -qq fonts-liberation >/dev/null 2>&1 || say "fonts-liberation not installed (optional)."

if path="$(find_chromium)"; then
    say "installed chromium at $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
else
    say "apt-get reported success but no chromium binary was found: browser tests will be skipped."
fi
exit 0
