#!/usr/bin/env bash
# make test's first step: the machine tools the tests need that pip cannot
# install. A missing one stops the run at once and names the one command that
# installs it, instead of letting the browser tests skip or shellcheck fail
# half-way through a ten-minute run. (.ci/run installs them before make test.)
set -euo pipefail

chromium=${TOKENSWEEPER_CHROMIUM:-/usr/bin/chromium}
missing=()
[[ -x "$chromium" ]] || missing+=(chromium)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v groff >/dev/null 2>&1 || missing+=(groff-base)

if (( ${#missing[@]} )); then
    echo "make test: missing ${missing[*]} (Debian packages)." >&2
    echo "make test: install them with:" >&2
    echo "    sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core shellcheck groff-base" >&2
    echo "make test: (or run 'bash .ci/run', which installs them and then runs make test)" >&2
    exit 1
fi
