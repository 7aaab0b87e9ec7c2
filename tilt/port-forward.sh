#!/bin/sh
# `kubectl port-forward` that follows its pod: kubectl keeps listening after the pod it chose is deleted (a
# rebuild, an eviction) but forwards nothing, so this forwards to one Ready pod of SELECTOR, watches it, and
# forwards to the successor once it is being deleted. A container restart keeps the pod and the forward.
# Usage: port-forward.sh SELECTOR LOCAL_PORT:POD_PORT
# From the Tiltfile: KUBE_CONTEXT.
set -u
cd "$(dirname "$0")/.." || exit 1
. ./project.env
: "${KUBE_CONTEXT:?set by the Tiltfile}"
selector=${1:?usage: port-forward.sh SELECTOR LOCAL_PORT:POD_PORT} ports=${2:?usage: port-forward.sh SELECTOR LOCAL_PORT:POD_PORT}
k() { kubectl --context "$KUBE_CONTEXT" --namespace "$NAMESPACE" "$@"; }
live_pods='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}'

while :; do
    pod=$(k get pods --selector "$selector" --sort-by=.metadata.creationTimestamp -o go-template="$live_pods" | tail -n 1)
    if [ -z "$pod" ] || ! k wait --for=condition=Ready "pod/$pod" --timeout=60s >/dev/null 2>&1; then
        sleep 2
        continue
    fi
    echo "port-forward: ${ports} to pod ${pod}"
    k port-forward "pod/$pod" "$ports" &
    forward=$!
    # Polled, not watched: one small request every 2 s, and no second process to keep track of.
    while kill -0 "$forward" 2>/dev/null &&
        [ "$(k get pod "$pod" --ignore-not-found -o go-template='{{if .metadata.deletionTimestamp}}gone{{else}}here{{end}}')" = here ]; do
        sleep 2
    done
    kill "$forward" 2>/dev/null
    wait "$forward" 2>/dev/null
    echo "port-forward: pod ${pod} went away; forwarding to its successor"
done
