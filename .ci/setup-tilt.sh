#!/usr/bin/env bash
# The real `tilt` at the version project.env pins, for the Tilt tests and CI, and a local copy of Tilt's extension
# repository (tilt-dev/tilt-extensions, where `ext://helm_resource` and `ext://uibutton` come from) for machines
# that reach no GitHub. `make test` and .ci/run call it.
#
# tilt, first source that has it:
#   1. a `tilt` on PATH at the pinned version (users install Tilt themselves): used as it is;
#   2. the cache (a previous run built it);
#   3. built here from its Go module through the module proxy, with its web UI built from the module's web/ by
#      Yarn (shipped in the module) against npm's registry, so the dashboard is served from the binary offline.
#      Needs Go and Node.js; takes about 7 minutes on 2 cores the first time.
# The extensions, first source that has them: TILT_EXTENSIONS_REPO if set, the cache, or TILT_EXTENSIONS_MIRROR (a
# directory or git repository holding a copy of tilt-extensions), copied into the cache.
#
# Nothing lands in git. Progress goes to stderr; stdout carries only KEY=value lines (TILT_BIN, and
# TILT_EXTENSIONS_REPO when a copy exists), so a caller can run:  eval "$(.ci/setup-tilt.sh)".
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=SCRIPTDIR/../project.env
source "${REPO_ROOT}/project.env"

CACHE_DIR="${MEDALLION_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/medallion-dev}"
TILT_MODULE=github.com/tilt-dev/tilt
TILT_DIR="${CACHE_DIR}/tilt-${TILT_VERSION}"
EXTENSIONS_DIR="${CACHE_DIR}/tilt-extensions"

log() {
    printf 'setup-tilt: %s\n' "$*" >&2
}

pinned_tilt_on_path() {
    local found
    found="$(command -v tilt 2>/dev/null)" || return 1
    [[ "$("${found}" version 2>/dev/null)" == "v${TILT_VERSION},"* ]] || return 1
    printf '%s\n' "${found}"
}

# Runs `go build ARGS` in the current directory (Tilt's source). Tilt's go.sum can name another checksum than the
# module proxy reached here serves for the same version (seen: github.com/docker/buildx v0.32.1): that module's
# lines are dropped and taken again from the proxy, whose checksum database verifies them, and the build retried.
go_build() {
    local output module version
    for _ in 1 2 3 4 5 6 7 8; do
        if output="$(go build "$@" 2>&1)"; then
            return 0
        fi
        read -r module version < <(sed -n 's/^verifying \([^@]*\)@\([^:]*\): checksum mismatch$/\1 \2/p' <<<"${output}")
        if [[ -z "${module:-}" ]]; then
            printf '%s\n' "${output}" >&2
            return 1
        fi
        log "go.sum names another checksum for ${module} ${version} than the proxy serves: taking the proxy's"
        grep -v "^${module} ${version}[ /]" go.sum >go.sum.new
        mv go.sum.new go.sum
        go mod download "${module}@${version}" >&2
    done
    return 1
}

build_tilt() {
    command -v go >/dev/null || { log "no Go toolchain: install Go >= 1.26, or Tilt v${TILT_VERSION} itself"; return 1; }
    command -v node >/dev/null || { log "no Node.js: the dashboard cannot be built (install Node.js >= 20)"; return 1; }
    local started=${SECONDS} download module_dir released work
    log "building tilt v${TILT_VERSION} from its Go module, web UI included (first time only, ~7 min on 2 cores)"
    # Tilt's go.mod has replace directives, so `go install module@version` refuses it: its own source, downloaded
    # through the module proxy, is built as the main module.
    download="$(cd / && GOFLAGS=-mod=mod go mod download -json "${TILT_MODULE}@v${TILT_VERSION}")"
    module_dir="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' <<<"${download}")"
    released="$(python3 -c 'import json, sys; print(json.load(open(json.load(sys.stdin)["Info"]))["Time"])' <<<"${download}")"
    work="$(mktemp -d "${CACHE_DIR}/tilt-build.XXXXXX")"
    # shellcheck disable=SC2064  # the path is known now
    trap "rm -rf '${work}'" RETURN
    cp -r "${module_dir}/." "${work}"
    chmod -R u+w "${work}"

    # The web UI's packages download while Go compiles: one is the network's work, the other the CPU's.
    (
        cd "${work}/web"
        # Yarn 4 ships in the module (web/.yarnrc.yml names it); it asks the registry npm is configured with.
        YARN_NPM_REGISTRY_SERVER="$(npm config get registry)"
        export YARN_NPM_REGISTRY_SERVER YARN_ENABLE_TELEMETRY=0 YARN_ENABLE_GLOBAL_CACHE=0
        node .yarn/releases/yarn-*.cjs install --mode=skip-build >"${work}/yarn-install.log" 2>&1
    ) &
    local yarn_install=$!
    # Two packages: compiled and checked, not linked (the link comes once, with the web UI inside).
    (cd "${work}" && go_build -trimpath ./cmd/tilt ./pkg/assets)
    log "Go packages compiled ($((SECONDS - started)) s)"
    if ! wait "${yarn_install}"; then
        tail -n 30 "${work}/yarn-install.log" >&2
        log "yarn install failed"
        return 1
    fi
    if ! (cd "${work}/web" && GENERATE_SOURCEMAP=false node .yarn/releases/yarn-*.cjs run build) \
        >"${work}/web-build.log" 2>&1; then
        tail -n 30 "${work}/web-build.log" >&2
        log "the web UI build failed"
        return 1
    fi
    log "web UI built ($((SECONDS - started)) s)"
    # pkg/assets embeds build/: with index.html there, a release build serves the dashboard itself.
    cp -r "${work}/web/build/." "${work}/pkg/assets/build/"
    mkdir -p "${TILT_DIR}"
    (cd "${work}" && go_build -trimpath -ldflags "-s -w -X main.version=${TILT_VERSION} -X main.date=${released}" \
        -o "${TILT_DIR}/tilt.new" ./cmd/tilt)
    mv "${TILT_DIR}/tilt.new" "${TILT_DIR}/tilt"
    log "built ${TILT_DIR}/tilt in $((SECONDS - started)) s"
}

provide_tilt() {
    local tilt
    if tilt="$(pinned_tilt_on_path)"; then
        log "tilt v${TILT_VERSION} on PATH: ${tilt}"
    elif [[ -x "${TILT_DIR}/tilt" ]]; then
        tilt="${TILT_DIR}/tilt"
    elif build_tilt; then
        tilt="${TILT_DIR}/tilt"
    else
        log "no tilt v${TILT_VERSION}: the Tilt tests will skip. Run this where Go and Node.js are installed," \
            "or install Tilt v${TILT_VERSION} (https://docs.tilt.dev/install.html)."
        return 0
    fi
    log "$("${tilt}" version)"
    printf 'TILT_BIN=%s\n' "${tilt}"
}

copy_extensions_from_mirror() {
    local mirror="${TILT_EXTENSIONS_MIRROR:-}" staging
    [[ -n "${mirror}" ]] || return 1
    staging="$(mktemp -d "${CACHE_DIR}/tilt-extensions.XXXXXX")"
    if [[ -f "${mirror}/helm_resource/Tiltfile" ]]; then
        cp -r "${mirror}/." "${staging}"
    elif git -C "${mirror}" cat-file -e HEAD:helm_resource/Tiltfile 2>/dev/null; then
        git -C "${mirror}" archive HEAD | tar -x -C "${staging}"
    else
        log "TILT_EXTENSIONS_MIRROR=${mirror} holds no copy of tilt-extensions"
        rm -rf "${staging}"
        return 1
    fi
    rm -rf "${EXTENSIONS_DIR}"
    mv "${staging}" "${EXTENSIONS_DIR}"
    log "copied tilt-extensions from TILT_EXTENSIONS_MIRROR"
}

provide_extensions() {
    local repo="${TILT_EXTENSIONS_REPO:-}"
    if [[ -z "${repo}" ]]; then
        mkdir -p "${CACHE_DIR}"
        if [[ -f "${EXTENSIONS_DIR}/helm_resource/Tiltfile" ]] || copy_extensions_from_mirror; then
            repo="${EXTENSIONS_DIR}"
        else
            log "no local copy of tilt-extensions: Tilt loads ext:// from GitHub, and the Tilt tests skip where" \
                "GitHub is out of reach. Set TILT_EXTENSIONS_MIRROR to a copy."
            return 0
        fi
    fi
    log "extensions from ${repo}"
    printf 'TILT_EXTENSIONS_REPO=%s\n' "${repo}"
}

mkdir -p "${CACHE_DIR}"
provide_tilt
provide_extensions
