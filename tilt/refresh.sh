#!/bin/sh
# Refreshes the stale layers with the code just saved: computes the digest of the laptop's dagster_project/,
# then, in the code-server pod, `control refresh` waits until Tilt's sync has brought the same files and the
# webserver serves them (the live update's reload), and launches one run of exactly the stale or missing
# assets (or says there is nothing to do). Run by the auto-refresh resource and the Refresh button.
# From the Tiltfile: KUBE_CONTEXT, USER_CODE_DEPLOYMENT, DAGSTER_URL (in-cluster), DAGSTER_UI_URL (links).
set -eu
cd "$(dirname "$0")/.."
. ./project.env
: "${KUBE_CONTEXT:?set by the Tiltfile}" "${USER_CODE_DEPLOYMENT:?set by the Tiltfile}" "${DAGSTER_URL:?}"
: "${DAGSTER_UI_URL:?set by the Tiltfile}"
digest=$(sh tilt/source-digest.sh dagster_project)
exec kubectl --context "$KUBE_CONTEXT" --namespace "$NAMESPACE" exec "deployment/$USER_CODE_DEPLOYMENT" -- \
    env DAGSTER_UI_URL="$DAGSTER_UI_URL" \
    python -m dagster_project.control --url "$DAGSTER_URL" --location "$CODE_LOCATION" \
    refresh --source-digest "$digest" "$@"
