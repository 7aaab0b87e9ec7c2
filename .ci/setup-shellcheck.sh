#!/usr/bin/env bash
# Install shellcheck from Debian for tests/test_shellcheck.py (the test skips, saying so, without it).
set -euo pipefail

if command -v shellcheck >/dev/null 2>&1; then
    shellcheck --version | sed -n 2p >&2
    exit 0
fi
sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get update -qq >&2
${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get install -y -qq --no-install-recommends shellcheck >&2
shellcheck --version | sed -n 2p >&2
