#!/usr/bin/env bash
# Build the user-code image and deploy the medallion pipeline to a local Kubernetes cluster (OrbStack,
# Docker Desktop or kind) with the official Dagster Helm chart. Re-running converges on the same state:
# manifests are applied, the release is upgraded in place, and bronze is seeded only when it is empty.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "${REPO_ROOT}"
# shellcheck source=SCRIPTDIR/project.env
source ./project.env

readonly HELM_REPO_NAME=dagster
readonly HELM_REPO_URL="${DAGSTER_CHART_REPO}"
readonly SEED_JOB=bronze-seed
# The chart names the code-server Deployment <release>-dagster-user-deployments-<location>.
readonly USER_CODE_DEPLOYMENT="${HELM_RELEASE}-dagster-user-deployments-${CODE_LOCATION}"

run_mode=inprocess
dry_run=false
kube_context="${KUBE_CONTEXT:-}"
allow_any_context="${ALLOW_ANY_CONTEXT:-false}"
image_tag="${IMAGE_TAG:-}"
# Where the cluster pulls the image from: Docker's own store, or the cluster's local registry (build_image).
image_repository="${IMAGE}"

usage() {
    cat <<EOF
Usage: ./build-and-deploy.sh [options]

Builds ${IMAGE}:latest plus a unique tag, applies k8s/ (namespace, PVCs, Postgres, UI NodePort, bronze
seed Job), then installs or upgrades the dagster/dagster chart ${DAGSTER_CHART_VERSION} as release
'${HELM_RELEASE}' in namespace '${NAMESPACE}' running the unique tag.

Options:
  --run-mode MODE       inprocess (default): runs execute in the code-server pod.
                        k8s-jobs: each run is a Kubernetes Job from the same image.
  --tag TAG             image tag to build and deploy (default: <git sha>-<UTC timestamp>; env IMAGE_TAG).
  --context NAME        kube context to deploy to (default: the current one; env KUBE_CONTEXT).
  --allow-any-context   deploy even if the context is not a known local cluster
                        (orbstack, docker-desktop, kind-*); env ALLOW_ANY_CONTEXT=true.
  --dry-run             print every command without running any of them.
  -h, --help            show this help.

Environment:
  PYTHON_IMAGE          base image passed to docker build (the Dockerfile defaults to python:3.11-slim).
  HELM_SKIP_SCHEMA_VALIDATION=true
                        pass --skip-schema-validation to helm: the chart's schema fetches Kubernetes
                        definitions from raw.githubusercontent.com, which an offline machine cannot reach.
  DAGSTER_CHART         a local copy of the chart (directory or .tgz) to install instead of the repository's.
  DOCKER_BUILD_NETWORK  docker build's --network (host where Docker's bridge reaches no package index).
  EXTRA_HELM_VALUES     one more values file, applied last (the test cluster's stand-in images).
  POSTGRES_IMAGE        the image k8s/postgres.yaml runs instead of the official one (the test cluster's).

A cluster that announces a local registry (ConfigMap kube-public/local-registry-hosting, as kind with a
registry does) gets the image pushed there; OrbStack and Docker Desktop use Docker's own images.
EOF
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

note() {
    printf '==> %s\n' "$*"
}

# Every command that touches Docker, the cluster or Helm goes through here, so --dry-run shows the
# complete plan and runs nothing.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [[ "${dry_run}" == false ]]; then
        "$@"
    fi
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --run-mode) run_mode="${2:?--run-mode needs a value}"; shift 2 ;;
            --run-mode=*) run_mode="${1#*=}"; shift ;;
            --tag) image_tag="${2:?--tag needs a value}"; shift 2 ;;
            --tag=*) image_tag="${1#*=}"; shift ;;
            --context) kube_context="${2:?--context needs a value}"; shift 2 ;;
            --context=*) kube_context="${1#*=}"; shift ;;
            --allow-any-context) allow_any_context=true; shift ;;
            --dry-run) dry_run=true; shift ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
    done
    case "${run_mode}" in
        inprocess | k8s-jobs) ;;
        *) die "--run-mode must be inprocess or k8s-jobs, not '${run_mode}'" ;;
    esac
}

require_tool() {
    local tool="$1" hint="$2"
    if ! command -v "${tool}" >/dev/null 2>&1; then
        if [[ "${dry_run}" == true ]]; then
            note "(dry run) ${tool} is not installed; a real run would stop here: ${hint}"
        else
            die "${tool} not found on PATH. ${hint}"
        fi
    fi
}

check_tools() {
    require_tool docker "Install OrbStack (https://orbstack.dev) or Docker Desktop."
    require_tool kubectl "Install it (brew install kubectl) or enable Kubernetes in OrbStack / Docker Desktop."
    require_tool helm "Install Helm 3.16 or newer (brew install helm)."
    if [[ "${dry_run}" == false ]] && ! docker info >/dev/null 2>&1; then
        die "docker is installed but its daemon does not answer. Start OrbStack or Docker Desktop."
    fi
}

# Deploying to a remote cluster by accident would put a dev database and PVCs there: only contexts that
# name a local cluster pass unless the user opts in.
check_context() {
    if [[ -z "${kube_context}" ]]; then
        if [[ "${dry_run}" == true ]]; then
            kube_context=CURRENT_CONTEXT
            note "(dry run) would deploy to the current kube context (kubectl config current-context)"
            return
        fi
        kube_context="$(kubectl config current-context 2>/dev/null)" ||
            die "kubectl has no current context. Enable Kubernetes in OrbStack or Docker Desktop, or create a kind cluster."
    fi
    case "${kube_context}" in
        orbstack | docker-desktop | kind-*) ;;
        *)
            [[ "${allow_any_context}" == true ]] ||
                die "kube context '${kube_context}' is not a known local cluster (orbstack, docker-desktop, kind-*). Switch with 'kubectl config use-context orbstack', or pass --allow-any-context if it really is local."
            ;;
    esac
    if [[ "${dry_run}" == false ]] && ! kubectl --context "${kube_context}" version --request-timeout=10s >/dev/null 2>&1; then
        die "the cluster of context '${kube_context}' does not answer. Is Kubernetes enabled and running?"
    fi
    note "kube context: ${kube_context}"
}

default_tag() {
    local revision
    revision="$(git rev-parse --short=12 HEAD 2>/dev/null || echo nogit)"
    if [[ "${revision}" != nogit ]] && [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
        revision="${revision}-dirty"
    fi
    printf '%s-%s' "${revision}" "$(date -u +%Y%m%d%H%M%S)"
}

# The registry a cluster announces for images built on the host (KEP-1755), or nothing.
find_local_registry() {
    kubectl --context "${kube_context}" --namespace kube-public get configmap local-registry-hosting \
        -o jsonpath='{.data.localRegistryHosting\.v1}' 2>/dev/null |
        sed -n 's/^host: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p'
}

build_image() {
    # Arrays are expanded with ${a[@]+...}: macOS's bash 3.2 treats an empty array as unset under set -u.
    local build_args=()
    if [[ -n "${PYTHON_IMAGE:-}" ]]; then
        build_args+=(--build-arg "PYTHON_IMAGE=${PYTHON_IMAGE}")
    fi
    if [[ -n "${DOCKER_BUILD_NETWORK:-}" ]]; then
        build_args+=(--network "${DOCKER_BUILD_NETWORK}")
    fi
    note "building ${IMAGE}:latest and ${IMAGE}:${image_tag}"
    run docker build ${build_args[@]+"${build_args[@]}"} --tag "${IMAGE}:latest" --tag "${IMAGE}:${image_tag}" .
    # A cluster with a local registry pulls from it; kind without one gets the image loaded into its nodes;
    # OrbStack and Docker Desktop share Docker's image store.
    local registry=""
    if [[ "${dry_run}" == true ]]; then
        note "(dry run) would push to the registry kube-public/local-registry-hosting names, if any"
    else
        registry="$(find_local_registry)"
    fi
    if [[ -n "${registry}" ]]; then
        image_repository="${registry}/${IMAGE}"
        note "pushing to the cluster's local registry ${registry}"
        run docker tag "${IMAGE}:${image_tag}" "${image_repository}:${image_tag}"
        run docker push "${image_repository}:${image_tag}"
    elif [[ "${kube_context}" == kind-* ]]; then
        run kind load docker-image "${IMAGE}:latest" "${IMAGE}:${image_tag}" --name "${kube_context#kind-}"
    fi
}

# Applies FILE with its one container image replaced by IMAGE (when IMAGE is set).
apply_with_image() {
    local file="$1" image="$2" current
    if [[ -z "${image}" ]]; then
        run kubectl --context "${kube_context}" apply -f "${file}"
        return
    fi
    current="$(sed -n 's/^ *image: *//p' "${file}")"
    [[ -n "${current}" && "${current}" != *$'\n'* ]] || die "${file} must name exactly one image to replace"
    note "${file}: ${current} -> ${image}"
    if [[ "${dry_run}" == true ]]; then
        run kubectl --context "${kube_context}" apply -f "${file}"
    else
        sed "s|^\( *image: *\)${current}\$|\1${image}|" "${file}" |
            run kubectl --context "${kube_context}" apply -f -
    fi
}

apply_manifests() {
    note "applying k8s/ to namespace ${NAMESPACE}"
    # The namespace first: kubectl applies a directory in file-name order.
    run kubectl --context "${kube_context}" apply -f k8s/namespace.yaml
    # A Job's pod template is immutable and a finished Job never runs again: replace it so each deploy
    # re-checks bronze (the Job itself never overwrites an existing file).
    run kubectl --context "${kube_context}" --namespace "${NAMESPACE}" delete job "${SEED_JOB}" --ignore-not-found --wait=true
    # Postgres was a Deployment before it became a StatefulSet: both running would share one data directory.
    run kubectl --context "${kube_context}" --namespace "${NAMESPACE}" delete deployment postgres --ignore-not-found --wait=true
    local file seed_image=""
    if [[ "${image_repository}" != "${IMAGE}" ]]; then
        seed_image="${image_repository}:${image_tag}"
    fi
    for file in k8s/*.yaml; do
        case "${file}" in
            k8s/namespace.yaml) ;;
            k8s/postgres.yaml) apply_with_image "${file}" "${POSTGRES_IMAGE:-}" ;;
            k8s/bronze-seed-job.yaml) apply_with_image "${file}" "${seed_image}" ;;
            *) run kubectl --context "${kube_context}" apply -f "${file}" ;;
        esac
    done
    run kubectl --context "${kube_context}" --namespace "${NAMESPACE}" rollout status statefulset/postgres --timeout=300s
}

seed_bronze() {
    note "seeding ${BRONZE_PVC} from the image's sample if it holds no bronze_data.csv"
    if ! run kubectl --context "${kube_context}" --namespace "${NAMESPACE}" wait --for=condition=complete "job/${SEED_JOB}" --timeout=300s; then
        kubectl --context "${kube_context}" --namespace "${NAMESPACE}" logs "job/${SEED_JOB}" >&2 || true
        die "the ${SEED_JOB} Job did not complete; see its log above and 'kubectl -n ${NAMESPACE} describe job ${SEED_JOB}'."
    fi
    run kubectl --context "${kube_context}" --namespace "${NAMESPACE}" logs "job/${SEED_JOB}"
}

install_chart() {
    local schema_args=()
    if [[ "${HELM_SKIP_SCHEMA_VALIDATION:-false}" == true ]]; then
        schema_args+=(--skip-schema-validation)
    fi
    local chart=(--version "${DAGSTER_CHART_VERSION}") values=(-f helm/values.yaml -f "helm/values-${run_mode}.yaml")
    if [[ -n "${DAGSTER_CHART:-}" ]]; then
        note "installing the local chart ${DAGSTER_CHART} (run mode ${run_mode})"
        chart=("${DAGSTER_CHART}")
    else
        note "installing chart ${HELM_REPO_NAME}/dagster ${DAGSTER_CHART_VERSION} (run mode ${run_mode})"
        run helm repo add "${HELM_REPO_NAME}" "${HELM_REPO_URL}" --force-update
        run helm repo update "${HELM_REPO_NAME}"
        chart=("${HELM_REPO_NAME}/dagster" "${chart[@]}")
    fi
    if [[ -n "${EXTRA_HELM_VALUES:-}" ]]; then
        values+=(-f "${EXTRA_HELM_VALUES}")
    fi
    # --wait returns once the webserver, daemon and code server are ready, so the UI is usable when the
    # script ends. The unique tag changes the pod templates: pods roll and new runs use the new image.
    run helm upgrade --install "${HELM_RELEASE}" "${chart[@]}" \
        --kube-context "${kube_context}" --namespace "${NAMESPACE}" \
        "${values[@]}" \
        --set "dagster-user-deployments.deployments[0].image.repository=${image_repository}" \
        --set "dagster-user-deployments.deployments[0].image.tag=${image_tag}" \
        ${schema_args[@]+"${schema_args[@]}"} --wait --timeout 10m
}

# helm's --wait ends when the pods are Ready, but the webserver may still hold its connection to the code server
# the upgrade replaced, and a launch then fails with "Could not reach user code server". A reload through the
# webserver (what Tilt's live update runs) returns once the location serves the new code.
reload_code_location() {
    note "reloading code location ${CODE_LOCATION} in the webserver"
    local attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        if run kubectl --context "${kube_context}" --namespace "${NAMESPACE}" exec "deployment/${USER_CODE_DEPLOYMENT}" \
            -- python -m dagster_project.control --url "http://${HELM_RELEASE}-dagster-webserver.${NAMESPACE}.svc:80" \
            --location "${CODE_LOCATION}" reload; then
            return
        fi
        note "the webserver cannot load ${CODE_LOCATION} yet (attempt ${attempt}); retrying in 3 s"
        sleep 3
    done
    die "the webserver did not load code location ${CODE_LOCATION}; see 'kubectl -n ${NAMESPACE} logs deployment/${USER_CODE_DEPLOYMENT}'."
}

print_next_steps() {
    cat <<EOF

Deployed ${IMAGE}:${image_tag} (run mode ${run_mode}) to context ${kube_context}, namespace ${NAMESPACE}.

  Dagster UI:       http://localhost:${UI_NODE_PORT}
                    (kind without an extraPortMappings entry for ${UI_NODE_PORT}: run
                     kubectl -n ${NAMESPACE} port-forward service/dagster-ui-nodeport ${UI_NODE_PORT}:80)
  Run the jobs:     in the UI open Jobs, pick medallion_job (or bronze_to_silver_job, then
                    silver_to_gold_job) and launch a run
  Inspect outputs:  scripts/inspect-outputs.sh
                    (prints the heads of silver, rejected rows and gold from the PVCs)
  Code-server logs: kubectl -n ${NAMESPACE} logs deployment/${USER_CODE_DEPLOYMENT}
EOF
}

main() {
    parse_args "$@"
    if [[ "${dry_run}" == true ]]; then
        note "dry run: printing commands without running them"
    fi
    check_tools
    check_context
    image_tag="${image_tag:-$(default_tag)}"
    build_image
    apply_manifests
    seed_bronze
    install_chart
    reload_code_location
    print_next_steps
}

main "$@"
