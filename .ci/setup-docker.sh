#!/usr/bin/env bash
# Makes a Docker engine reachable for the `docker` tests and builds the base image they use.
#
# CI machines cannot pull from Docker Hub, so python:3.11-slim is replaced by a Debian bookworm root
# filesystem made with debootstrap (python3 + python3-venv, as the Dockerfile needs) and imported once.
# Safe to run again: installed packages, a running dockerd and an existing base image are reused.
#
# stdout is exactly one line, PYTHON_IMAGE=<image>, for the caller to export:
#     export "$(bash .ci/setup-docker.sh)"
# Progress goes to stderr; dockerd's log to $DOCKERD_LOG.
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-medallion-base:bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd-ci.log}"

log() { printf 'setup-docker: %s\n' "$*" >&2; }

install_packages() {
    # The tests start a private PostgreSQL cluster, so its server binaries are needed as well.
    local wanted=(docker.io debootstrap postgresql tar)
    local missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

start_dockerd() {
    if docker info >/dev/null 2>&1; then
        log "docker engine already reachable"
        return
    fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid detaches it from this script's process group, so it outlives the caller's shell.
    setsid dockerd >"$DOCKERD_LOG" 2>&1 < /dev/null &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && { log "docker engine is up"; return; }
        sleep 1
    done
    log "dockerd did not answer within 60 s; last log lines:"
    tail -n 30 "$DOCKERD_LOG" >&2
    exit 1
}

build_base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "base image $BASE_IMAGE already present"
        return
    fi
    local rootfs
    rootfs="$(mktemp -d /var/tmp/medallion-rootfs.XXXXXX)"
    # The root filesystem is only an intermediate: remove it however this function ends.
    trap 'rm -rf "$rootfs"' RETURN
    log "debootstrap bookworm into $rootfs (takes a few minutes)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$DEBIAN_MIRROR" >&2
    # pip inside the image reaches PyPI through whatever TLS-intercepting proxy the host uses, so the base
    # trusts the same locally added CAs as the host (CI's sandbox adds one). The Dockerfile then needs no
    # CI-specific step; a developer's python:3.11-slim build is unaffected.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
        chroot "$rootfs" update-ca-certificates >&2
    fi
    # Drop what debian:bookworm-slim (under python:3.11-slim) drops too, docs, man pages and translations,
    # so image sizes measured here are comparable; apt lists and caches are dead weight in every image.
    rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb
    # pip in a venv trusts its bundled certifi store unless pointed at the system one.
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' - "$BASE_IMAGE" >&2
    log "imported $BASE_IMAGE"
}

install_packages
start_dockerd
build_base_image
echo "PYTHON_IMAGE=$BASE_IMAGE"
