#!/usr/bin/env bash
# Print the heads and row counts of silver, rejected rows and gold as the pipeline left them on the PVCs.
# The project's summary module runs inside the code-server pod, which mounts all three layers in both run
# modes. Arguments go to the summary module (default: --head 5, the first rows of each file); --dry-run
# prints the command instead of running it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=SCRIPTDIR/../project.env
source "${REPO_ROOT}/project.env"

# The chart names the code-server Deployment <release>-dagster-user-deployments-<location>.
deployment="${HELM_RELEASE}-dagster-user-deployments-${CODE_LOCATION}"
command=(kubectl --namespace "${NAMESPACE}" exec "deployment/${deployment}" -- python -m dagster_project.summary)

dry_run=false
if [[ "${1:-}" == --dry-run ]]; then
    dry_run=true
    shift
fi
if [[ $# -eq 0 ]]; then
    set -- --head 5
fi
command+=("$@")

if [[ "${dry_run}" == true ]]; then
    printf '%q ' "${command[@]}"
    printf '\n'
    exit 0
fi
exec "${command[@]}"
