#!/bin/sh
# Make sure the tests have their system tools: GNU gettext, and for the browser tests a Chromium: $CHROMIUM_PATH, else Debian's /usr/bin/chromium or
# /usr/bin/chromium-browser (the same lookup as tests/browser/conftest.py). Missing, it installs Debian's
# `chromium` package when it runs as root with apt-get; otherwise it says how and exits 1.
# Playwright's own browser download does not work on our machines: never `playwright install`.
# With --without-browser (make test-fast) only gettext is needed.
set -eu

# GNU gettext's xgettext: the translation test extracts every Swedish string to check the English catalogue.
if ! command -v xgettext >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[tandportal] No xgettext for the translation test; installing Debian's gettext package."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext
  else
    echo "[tandportal] The translation test needs GNU gettext: sudo apt-get install gettext" >&2
    exit 1
  fi
fi

[ "${1:-}" = "--without-browser" ] && exit 0

found() {
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    [ -x "$CHROMIUM_PATH" ] && [ -f "$CHROMIUM_PATH" ] && return 0
    echo "[tandportal] CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file." >&2
    return 2
  fi
  for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
    [ -x "$candidate" ] && [ -f "$candidate" ] && return 0
  done
  return 1
}

status=0
found || status=$?
[ "$status" -eq 0 ] && exit 0
# A wrong CHROMIUM_PATH is the caller's to fix; installing a package would not change what it points at.
[ "$status" -eq 2 ] && exit 1

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[tandportal] No Chromium for the browser tests; installing Debian's chromium package."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  found && exit 0
  echo "[tandportal] apt-get installed chromium, but /usr/bin/chromium is still missing." >&2
  exit 1
fi

cat >&2 <<'MESSAGE'
[tandportal] The browser tests need Chromium, and none was found
(looked at $CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/chromium-browser).
Install Debian's package:     sudo apt-get install chromium
or point at another Chromium: make test CHROMIUM_PATH=/path/to/chromium
(Do not run `playwright install`: its browser download does not work here.)
MESSAGE
exit 1
