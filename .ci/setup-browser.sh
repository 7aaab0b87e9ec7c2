#!/usr/bin/env bash
# The browser tests' tools (tests/local/test_ui_flows.py, make screenshots): Debian's Chromium, which Playwright drives
# through its executable path, and Playwright for Python (the `browser` extra of uv.lock) in the venv.
# Playwright's own browser download is never used. Safe to run again: what is installed is reused.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_PYTHON="${VENV_PYTHON:-${REPO_ROOT}/.venv/bin/python}"

log() { printf 'setup-browser: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
    sudo_cmd=()
    if [[ "$(id -u)" -ne 0 ]]; then
        sudo_cmd=(sudo)
    fi
    log "installing chromium"
    ${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive ${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get install -y -qq --no-install-recommends \
        chromium fonts-liberation >&2
fi
log "$(chromium --version 2>/dev/null | head -n 1)"

# Playwright at the version uv.lock pins for the `browser` extra, added to the project's venv.
make --no-print-directory -C "${REPO_ROOT}" install-browser >&2
log "playwright $("${VENV_PYTHON}" -c 'from importlib.metadata import version; print(version("playwright"))')"
