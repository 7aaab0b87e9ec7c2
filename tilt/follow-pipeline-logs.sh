#!/bin/sh
# Streams the output of the pods that execute pipeline runs into one Tilt pane. Argument: their label
# selector (the code-server pod in inprocess mode, run-worker pods in k8s-jobs mode). Pods that start later,
# such as a rebuilt code server or a new run Job, are picked up within two seconds; lines written before
# this script started are skipped, so finished pods do not replay old runs.
# From the Tiltfile: KUBE_CONTEXT.
set -u
cd "$(dirname "$0")/.." || exit 1
. ./project.env
: "${KUBE_CONTEXT:?set by the Tiltfile}" "${1:?usage: follow-pipeline-logs.sh LABEL_SELECTOR}"
k() { kubectl --context "$KUBE_CONTEXT" --namespace "$NAMESPACE" "$@"; }
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
followed=' '
while :; do
    # A Pending pod has no log yet; it is picked up on a later pass once it runs.
    for pod in $(k get pods --selector "$1" --field-selector=status.phase!=Pending -o name 2>/dev/null); do
        case $followed in *" $pod "*) continue ;; esac
        followed="$followed$pod "
        k logs --follow --prefix --all-containers --since-time="$since" "$pod" &
    done
    sleep 2
done
