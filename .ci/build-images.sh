#!/usr/bin/env bash
# Builds the images the test cluster needs that no registry reachable here serves, under the project's own names
# (medallion-dev/*, from .ci/images/), and pushes them to the cluster's local registry. Users never get these:
# the manifests and values name the official images, and only the overlay printed here swaps them in.
#
#   medallion-dev/postgres   Debian bookworm's PostgreSQL 15, for docker.io/library/postgres:17-bookworm
#   medallion-dev/dagster    dagster + webserver + postgres + k8s at uv.lock's versions, for
#                            docker.io/dagster/dagster-celery-k8s (the chart's webserver and daemon)
#   medallion-dev/nslookup   the Debian base with an nslookup that answers as busybox 1.28's, for
#                            docker.io/busybox:1.28 (the chart's init containers)
#
# Needs Docker (.ci/setup-docker.sh), uv (make install) and LOCAL_REGISTRY (the
# registry the cluster announces, e.g. localhost:5000). Images already in the registry are not rebuilt.
# stdout: KEY=value lines for build-and-deploy.sh and the Tiltfile:
#   EXTRA_HELM_VALUES  a values file pointing the chart's images at the stand-ins
#   POSTGRES_IMAGE     the image k8s/postgres.yaml runs on this cluster
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=SCRIPTDIR/../project.env
source "${REPO_ROOT}/project.env"

REGISTRY="${LOCAL_REGISTRY:?set LOCAL_REGISTRY to the registry of the test cluster, as .ci/cluster.sh env prints it}"
# The base the project image builds on (.ci/setup-docker.sh exports the Debian one CI uses).
BASE_IMAGE="${BASE_IMAGE:-${PYTHON_IMAGE:-python:3.11-slim}}"
CACHE_DIR="${MEDALLION_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/medallion-dev}"
UV="${UV:-${CACHE_DIR}/uv-${UV_VERSION}/bin/uv}"
OVERLAY="${CACHE_DIR}/test-cluster-values.yaml"

log() { printf 'build-images: %s\n' "$*" >&2; }

# The registry's API: does it hold this repository:tag?
in_registry() {
    local repository="${1#*/}"
    curl --silent --fail --head --output /dev/null \
        --header 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://${REGISTRY}/v2/${repository%:*}/manifests/${repository##*:}"
}

# build_and_push NAME VERSION CONTEXT: builds .ci/images/NAME's Dockerfile in CONTEXT unless REGISTRY has it. The
# tag is VERSION plus a digest of what the image is built from (base included), so an edited recipe gets a new image.
build_and_push() {
    local recipe ref started=${SECONDS}
    recipe="$({ echo "${BASE_IMAGE}"; find "${REPO_ROOT}/.ci/images/$1" "$3" -type f -print0 | sort -z | xargs -0 cat; } |
        sha256sum | cut -c1-10)"
    ref="${REGISTRY}/medallion-dev/$1:$2-${recipe}"
    if in_registry "${ref}"; then
        log "${ref} already in the registry"
    else
        log "building ${ref}"
        docker build --quiet --network host --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
            --file "${REPO_ROOT}/.ci/images/$1/Dockerfile" --tag "${ref}" "$3" >&2
        docker push --quiet "${ref}" >&2
        log "pushed ${ref} ($((SECONDS - started)) s)"
    fi
    printf '%s\n' "${ref}"
}

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

postgres="$(build_and_push postgres 15-bookworm "${REPO_ROOT}/.ci/images/postgres")"

# The webserver and daemon run the dagster release the code server runs, each package at the lock's version.
"${UV}" export --project "${REPO_ROOT}" --frozen --extra dev --no-emit-project --no-hashes --no-header \
    --no-annotate >"${work}/constraints.txt"
dagster="$(build_and_push dagster "${DAGSTER_VERSION}" "${work}")"

# The init containers' image: a shell and the nslookup they need, a static Go program built here with the
# machine's Go (its source is beside the Dockerfile).
mkdir "${work}/nslookup"
CGO_ENABLED=0 go build -C "${REPO_ROOT}/.ci/images/nslookup" -trimpath -ldflags='-s -w' -o "${work}/nslookup/nslookup" .
nslookup="$(build_and_push nslookup 1 "${work}/nslookup")"

mkdir -p "$(dirname "${OVERLAY}")"
cat >"${OVERLAY}" <<EOF
# Written by .ci/build-images.sh for the test cluster only: the chart's images replaced by local stand-ins.
dagsterWebserver:
  image:
    repository: ${dagster%:*}
    tag: "${dagster##*:}"
dagsterDaemon:
  image:
    repository: ${dagster%:*}
    tag: "${dagster##*:}"
postgresql:
  image:
    registry: ${REGISTRY}
    repository: medallion-dev/postgres
    tag: "${postgres##*:}"
busybox:
  image:
    repository: ${nslookup%:*}
    tag: "${nslookup##*:}"
EOF
log "overlay: ${OVERLAY}"
printf 'EXTRA_HELM_VALUES=%s\nPOSTGRES_IMAGE=%s\n' "${OVERLAY}" "${postgres}"
