#!/bin/sh
# Copies data/bronze/ onto the bronze PVC through a short-lived pod, the only writer bronze ever has (every
# pipeline pod mounts it read-only). A file bronze already holds with other content is kept unless
# ON_CONFLICT=replace (the Tilt button's checkbox).
# From the Tiltfile: KUBE_CONTEXT, USER_CODE_DEPLOYMENT. Optional: ON_CONFLICT (keep), SEED_SOURCE (data/bronze).
set -eu
cd "$(dirname "$0")/.."
. ./project.env
: "${KUBE_CONTEXT:?set by the Tiltfile}" "${USER_CODE_DEPLOYMENT:?set by the Tiltfile}"
on_conflict=${ON_CONFLICT:-keep}
source_dir=${SEED_SOURCE:-data/bronze}
k() { kubectl --context "$KUBE_CONTEXT" --namespace "$NAMESPACE" "$@"; }

# The image Tilt deployed last: it has tar and the app user, whose files the pipeline pods can read.
image=$(k get deployment "$USER_CODE_DEPLOYMENT" -o jsonpath='{.spec.template.spec.containers[0].image}')
pod="bronze-seed-$(date +%s)"
k run "$pod" --image="$image" --restart=Never --overrides="$(cat <<JSON
{"spec": {
  "securityContext": {"runAsUser": $APP_UID, "runAsGroup": $APP_GID, "runAsNonRoot": true, "fsGroup": $APP_GID},
  "terminationGracePeriodSeconds": 1,
  "containers": [{"name": "$pod", "image": "$image", "imagePullPolicy": "IfNotPresent",
                  "command": ["sleep", "600"],
                  "volumeMounts": [{"name": "bronze", "mountPath": "$DATA_ROOT/bronze"}]}],
  "volumes": [{"name": "bronze", "persistentVolumeClaim": {"claimName": "$BRONZE_PVC"}}]}}
JSON
)"
trap 'k delete pod "$pod" --wait=false >/dev/null' EXIT
k wait --for=condition=Ready "pod/$pod" --timeout=180s
tar -C "$source_dir" -cf - . |
    k exec -i "$pod" -- sh -c "$(cat tilt/seed-bronze-in-pod.sh)" seed "$DATA_ROOT/bronze" "$on_conflict"
