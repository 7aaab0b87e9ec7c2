#!/bin/sh
# Prints the digest of the *.py files under a package directory: sha256 of their `sha256sum` lines, sorted by
# ./relative path. `control refresh --source-digest` computes the same over the files in the pod
# (dagster_project/control/refresh.py), so a refresh can tell that Tilt's sync of the laptop's files has landed.
# macOS ships `shasum -a 256` instead of sha256sum; both print the same lines.
set -eu
dir=${1:?usage: source-digest.sh PACKAGE_DIR}
sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}
cd "$dir"
find . -name '*.py' -type f | LC_ALL=C sort | while IFS= read -r file; do sha256 "$file"; done | sha256 | cut -d ' ' -f 1
