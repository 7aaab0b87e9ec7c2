#!/usr/bin/env bash
# Proves that the cluster of .ci/cluster.sh does what the project's deploys need, end to end:
#   an image built with `docker build` and pushed to the local registry runs as a Deployment; a ClusterIP
#   Service answers by DNS name (short and full) from another pod; a NodePort answers on localhost; exec,
#   logs -f and port-forward work; a claim without storageClassName binds and uid 10001 (fsGroup 10001)
#   writes to it; a Job completes; and, with --restart, `down` + `up` brings the node back Ready with the
#   volume's data kept.
#
#   .ci/cluster/smoke.sh [--restart]
#
# Needs a running cluster (.ci/cluster.sh up) and a Docker engine with the base image that
# .ci/setup-docker.sh builds (BASE_IMAGE, default medallion-base:bookworm). Everything it creates lives in
# the namespace medallion-smoke, deleted at the end. Prints one line per check and "N passed, N failed".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER="${HERE}/../cluster.sh"
BASE_IMAGE="${BASE_IMAGE:-medallion-base:bookworm}"
NS=medallion-smoke
NODE_PORT="${SMOKE_NODE_PORT:-30081}"
FORWARD_PORT="${SMOKE_FORWARD_PORT:-18081}"
restart=false
[[ "${1:-}" != --restart ]] || restart=true

cluster_env="$("${CLUSTER}" env)"
eval "${cluster_env}"
export KUBECONFIG

passed=0
failed=0
check() {
    local name="$1"
    shift
    local started=${SECONDS}
    if "$@"; then
        passed=$((passed + 1))
        printf 'ok    %-58s %3ss\n' "${name}" "$((SECONDS - started))"
    else
        failed=$((failed + 1))
        printf 'FAIL  %-58s %3ss\n' "${name}" "$((SECONDS - started))"
    fi
}

k() {
    kubectl --context "${KUBE_CONTEXT}" "$@"
}

work="$(mktemp -d)"
forwarder=""
cleanup() {
    [[ -z "${forwarder}" ]] || kill "${forwarder}" 2>/dev/null || true
    k delete namespace "${NS}" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    rm -rf "${work}"
}
trap cleanup EXIT

image="${LOCAL_REGISTRY}/medallion-smoke/web:$(date +%s)"
# A namespace left by an earlier run may still be going away.
k delete namespace "${NS}" --ignore-not-found --wait=true --timeout=180s >/dev/null

build_and_push() {
    cat >"${work}/Dockerfile" <<EOF
FROM ${BASE_IMAGE}
RUN mkdir -p /srv && echo "hello from ${KUBE_CONTEXT}" >/srv/index.html
WORKDIR /srv
CMD ["python3", "-m", "http.server", "8080"]
EOF
    docker build --network host -q -t "${image}" "${work}" >/dev/null && docker push -q "${image}" >/dev/null
}

node_ready() {
    [[ "$(k get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{end}')" == True ]]
}

deploy() {
    k apply -f - >/dev/null <<EOF || return 1
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: ${image}
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${NS}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-nodeport, namespace: ${NS}}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: ${NODE_PORT}}]
EOF
    k -n "${NS}" rollout status deployment/web --timeout=180s >/dev/null
}

# run_pod NAME UID COMMAND: a pod of the test image running COMMAND (a shell line) as UID with the claim
# "data" at /data when it exists; prints the pod's log and succeeds when the pod did.
run_pod() {
    local name="$1" uid="$2" command="$3" volume="" mount="" newline=$'\n'
    if k -n "${NS}" get pvc data >/dev/null 2>&1; then
        volume='volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]'
        mount='volumeMounts: [{name: data, mountPath: /data}]'
    fi
    k -n "${NS}" delete pod "${name}" --ignore-not-found >/dev/null || return 1
    k apply -f - >/dev/null <<EOF || return 1
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${NS}}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: ${uid}, fsGroup: ${uid}}
  containers:
    - name: main
      image: ${image}
      command:
        - sh
        - -c
        - |
          ${command//${newline}/${newline}          }
      ${mount}
  ${volume}
EOF
    local phase="" deadline=$((SECONDS + 120))
    while ((SECONDS < deadline)); do
        phase="$(k -n "${NS}" get pod "${name}" -o jsonpath='{.status.phase}')" || return 1
        [[ "${phase}" != Succeeded && "${phase}" != Failed ]] || break
        sleep 0.5
    done
    k -n "${NS}" logs "${name}"
    [[ "${phase}" == Succeeded ]]
}

# Another pod resolves the Service by its short, namespaced and full names, then fetches from it.
dns_and_service() {
    run_pod dns-client 10001 "python3 -c \"
import socket, urllib.request
ips = {socket.gethostbyname(n) for n in ('web', 'web.${NS}', 'web.${NS}.svc.cluster.local')}
assert len(ips) == 1, ips
assert b'hello' in urllib.request.urlopen('http://web', timeout=10).read()
print('resolved', ips.pop())
\"" >"${work}/dns.log" 2>&1 || {
        cat "${work}/dns.log" >&2
        return 1
    }
    sed 's/^/      /' "${work}/dns.log"
}

node_port() {
    local attempt
    for attempt in $(seq 20); do
        curl -sf --max-time 3 "http://localhost:${NODE_PORT}/" | grep -q hello && return 0
        ((attempt < 20)) || break
        sleep 0.5
    done
    return 1
}

exec_works() {
    [[ "$(k -n "${NS}" exec deploy/web -- cat /srv/index.html)" == "hello from ${KUBE_CONTEXT}" ]]
}

logs_follow() {
    # The request from the NodePort check is in the log; -f keeps the stream open until timeout ends it.
    timeout 5 kubectl --context "${KUBE_CONTEXT}" -n "${NS}" logs -f deployment/web >"${work}/follow.log" 2>&1 || true
    grep -q 'GET / ' "${work}/follow.log"
}

port_forward() {
    k -n "${NS}" port-forward deployment/web "${FORWARD_PORT}:8080" >"${work}/forward.log" 2>&1 &
    forwarder=$!
    local attempt ok=1
    for attempt in $(seq 20); do
        if curl -sf --max-time 3 "http://127.0.0.1:${FORWARD_PORT}/" | grep -q hello; then
            ok=0
            break
        fi
        sleep 0.5
    done
    kill "${forwarder}" 2>/dev/null || true
    wait "${forwarder}" 2>/dev/null || true
    forwarder=""
    return "${ok}"
}

# A claim with no class (the default class serves it) and a Job writing to it as the project's user.
volume_job() {
    k apply -f - >/dev/null <<EOF || return 1
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: ${NS}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: writer, namespace: ${NS}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsUser: 10001, runAsGroup: 10001, runAsNonRoot: true, fsGroup: 10001}
      containers:
        - name: writer
          image: ${image}
          command: [sh, -c, 'test "\$(id -u)" = 10001 && echo kept > /data/proof.txt && cat /data/proof.txt']
          volumeMounts: [{name: data, mountPath: /data}]
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: data}
EOF
    k -n "${NS}" wait --for=condition=complete job/writer --timeout=180s >/dev/null &&
        [[ "$(k -n "${NS}" get pvc data -o jsonpath='{.status.phase}')" == Bound ]] &&
        [[ "$(k -n "${NS}" logs job/writer)" == kept ]]
}

restart_keeps_data() {
    if ! "${CLUSTER}" down >/dev/null 2>&1 || ! "${CLUSTER}" up >/dev/null 2>"${work}/up.log"; then
        cat "${work}/up.log" >&2
        return 1
    fi
    grep -E 'is Ready|is up in' "${work}/up.log" | sed 's/^/      /'
    node_ready || return 1
    k -n "${NS}" rollout status deployment/web --timeout=180s >/dev/null || return 1
    [[ "$(run_pod reader 10001 'cat /data/proof.txt')" == kept ]]
}

check "kubectl get nodes: one node, Ready" node_ready
check "docker build + docker push ${LOCAL_REGISTRY}" build_and_push
check "Deployment from the pushed image rolls out" deploy
check "Service by DNS name from another pod (short/ns/full)" dns_and_service
check "NodePort answers on localhost:${NODE_PORT}" node_port
check "kubectl exec" exec_works
check "kubectl logs -f" logs_follow
check "kubectl port-forward" port_forward
check "PVC without class binds; uid 10001 writes; Job completes" volume_job
if [[ "${restart}" == true ]]; then
    check "down + up: node Ready again, volume data kept" restart_keeps_data
fi
printf '%s passed, %s failed\n' "${passed}" "${failed}"
((failed == 0))
