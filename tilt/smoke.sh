#!/bin/sh
# The `tilt ci` smoke check: reload the code location, run medallion_job once through the webserver, then
# require a gold table written by that run. Any failure exits non-zero, which fails `tilt ci`.
# From the Tiltfile: KUBE_CONTEXT, USER_CODE_DEPLOYMENT, DAGSTER_URL (in-cluster webserver).
set -eu
cd "$(dirname "$0")/.."
. ./project.env
: "${KUBE_CONTEXT:?set by the Tiltfile}" "${USER_CODE_DEPLOYMENT:?set by the Tiltfile}" "${DAGSTER_URL:?}"
in_user_code() {
    kubectl --context "$KUBE_CONTEXT" --namespace "$NAMESPACE" exec "deployment/$USER_CODE_DEPLOYMENT" -- "$@"
}
control() { in_user_code python -m dagster_project.control --url "$DAGSTER_URL" --location "$CODE_LOCATION" "$@"; }

control reload
started=$(in_user_code date +%s)
control submit medallion_job --wait --timeout 600
in_user_code sh -c "$(cat tilt/check-gold-in-pod.sh)" check "$DATA_ROOT/gold/gold_data.csv" "$started"
in_user_code python -m dagster_project.summary
echo "smoke check passed: medallion_job wrote $DATA_ROOT/gold/gold_data.csv"
