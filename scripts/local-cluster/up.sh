#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Creates a real single-node Kubernetes on this machine, without Docker or an image registry:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, the kubelet on
# Debian's containerd + runc, the bridge CNI, CoreDNS and kube-router's NetworkPolicy firewall,
# all in a network namespace of their own whose only route leads into an empty namespace. Needs
# root and the tools of `scripts/integration/provision.sh` (node-packages kube etcd coredns
# kube-router). Stop it with down.sh;
# a failed start stops itself.
#
#   scripts/local-cluster/up.sh          then: scripts/local-up.sh deploys the shop onto it
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

[[ "$(id -u)" == "0" ]] || die "the single-node cluster needs root (network namespaces, cgroups, containerd)"
for binary in "${KUBE_BIN}/kubelet" "${ETCD_BIN}/etcd" "${COREDNS_BIN}/coredns" "${KUBE_ROUTER_BIN}/kube-router"; do
  [[ -x "${binary}" ]] || die "${binary} is missing: run 'bash scripts/integration/provision.sh node-packages kube etcd coredns kube-router'"
done
for command in containerd runc nsenter unshare iptables conntrack ipset; do
  command -v "${command}" >/dev/null || die "'${command}' is not installed: run 'bash scripts/integration/provision.sh node-packages'"
done
if ip netns list | grep -qw "${LOCAL_NETNS}"; then
  die "a single-node cluster is already up (network namespace ${LOCAL_NETNS}): stop it with scripts/local-cluster/down.sh"
fi

started=${SECONDS}
progress() { log "[local-cluster +$((SECONDS - started))s] $*"; }
on_failure() {
  log "bring-up failed: stopping what was started (logs: ${LOCAL_DIR}/logs)"
  MESHWARD_LOCAL_KEEP_LOGS=1 bash "${HERE}/down.sh" || true
}
trap on_failure ERR

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every half second.
wait_for() {
  local what="$1" limit="$2" deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "${what} not ready after ${limit}s"
      return 1
    fi
    sleep 0.5
  done
}

# 1. Fresh state, the two network namespaces, the cgroup root.
rm -rf "${LOCAL_DIR}"
mkdir -p "${LOCAL_DIR}"/{logs,pki,etcd,kubelet,pod-logs,manifests,cni/net.d,cni/bin,cni/ipam,containerd,sysctl-view}
ip netns add "${LOCAL_NETNS}"
ip netns add "${LOCAL_SINK}"
ip -n "${LOCAL_NETNS}" link set lo up
ip -n "${LOCAL_NETNS}" link add node0 type veth peer name sink0 netns "${LOCAL_SINK}"
ip -n "${LOCAL_NETNS}" addr add "${LOCAL_NODE_IP}/24" dev node0
ip -n "${LOCAL_NETNS}" link set node0 up
ip -n "${LOCAL_SINK}" link set sink0 up
ip -n "${LOCAL_NETNS}" route add default dev node0
# The internet clients: their namespace reaches the node's address and nothing else, and the
# node routes only their two addresses back (no NAT: the gateway sees them as they are).
ip netns add "${LOCAL_INTERNET}"
ip -n "${LOCAL_INTERNET}" link set lo up
ip -n "${LOCAL_NETNS}" link add inet0 type veth peer name wan0 netns "${LOCAL_INTERNET}"
ip -n "${LOCAL_INTERNET}" addr add "${LOCAL_OFFICE_IP}/32" dev wan0
ip -n "${LOCAL_INTERNET}" addr add "${LOCAL_OUTSIDE_IP}/32" dev wan0
ip -n "${LOCAL_INTERNET}" link set wan0 up
ip -n "${LOCAL_NETNS}" link set inet0 up
ip -n "${LOCAL_INTERNET}" route add "${LOCAL_NODE_IP}/32" dev wan0
for client in "${LOCAL_OFFICE_IP}" "${LOCAL_OUTSIDE_IP}"; do
  ip -n "${LOCAL_NETNS}" route add "${client}/32" dev inet0
done
for hierarchy in /sys/fs/cgroup/*/; do
  [[ "${hierarchy}" == */unified/ ]] && continue
  mkdir -p "${hierarchy}${LOCAL_CGROUP}"
done
cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/${LOCAL_CGROUP}/cpuset.cpus"
cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/${LOCAL_CGROUP}/cpuset.mems"

# 2. A throwaway CA and every certificate and kubeconfig of the cluster.
bash "${HERE}/pki.sh" "${LOCAL_DIR}/pki" "${LOCAL_NODE_IP}" "${LOCAL_NODE_NAME}" "${LOCAL_CONTEXT}"
progress "network namespaces ${LOCAL_NETNS}/${LOCAL_SINK}/${LOCAL_INTERNET}, cgroup /${LOCAL_CGROUP}, PKI"

# 3. etcd and kube-apiserver.
P="${LOCAL_DIR}/pki"
start_process etcd "${ETCD_BIN}/etcd" --data-dir "${LOCAL_DIR}/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster default=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
start_process kube-apiserver "${KUBE_BIN}/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
  --bind-address="${LOCAL_NODE_IP}" --advertise-address="${LOCAL_NODE_IP}" --secure-port=6443 \
  --tls-cert-file="${P}/apiserver.crt" --tls-private-key-file="${P}/apiserver.key" --client-ca-file="${P}/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="${P}/sa.pub" --service-account-signing-key-file="${P}/sa.key" \
  --service-cluster-ip-range="${LOCAL_SERVICE_CIDR}" --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction --allow-privileged=true --profiling=false \
  --kubelet-client-certificate="${P}/apiserver-kubelet-client.crt" --kubelet-client-key="${P}/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="${P}/ca.crt" --kubelet-preferred-address-types=InternalIP \
  --endpoint-reconciler-type=lease
wait_for "kube-apiserver" 120 local_kubectl get --raw /readyz
progress "etcd + kube-apiserver ready (https://${LOCAL_NODE_IP}:6443)"

# 4. The node: containerd and the kubelet share one private mount namespace (volumes).
cp /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback "${LOCAL_DIR}/cni/bin/"
sed -e "s#@DIR@#${LOCAL_DIR}#g" -e "s#@POD_CIDR@#${LOCAL_POD_CIDR}#g" \
  "${HERE}/node/10-meshward-bridge.conflist" >"${LOCAL_DIR}/cni/net.d/10-meshward-bridge.conflist"
sed -e "s#@DIR@#${LOCAL_DIR}#g" "${HERE}/node/containerd.toml" >"${LOCAL_DIR}/containerd.toml"
sed -e "s#@DIR@#${LOCAL_DIR}#g" -e "s#@NODE_IP@#${LOCAL_NODE_IP}#g" -e "s#@DNS_IP@#${LOCAL_DNS_IP}#g" \
  "${HERE}/node/kubelet.yaml.in" >"${LOCAL_DIR}/kubelet.yaml"
# The kubelet wants vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1 and would
# write them machine-wide: inside its mount namespace it sees files holding those values instead.
echo 1 >"${LOCAL_DIR}/sysctl-view/overcommit_memory"
echo 10 >"${LOCAL_DIR}/sysctl-view/panic"
echo 1 >"${LOCAL_DIR}/sysctl-view/panic_on_oops"
: >"${LOCAL_DIR}/resolv.conf"
nsenter --net="/run/netns/${LOCAL_NETNS}" unshare --mount --propagation private \
  env LOCAL_DIR="${LOCAL_DIR}" KUBELET="${KUBE_BIN}/kubelet" NODE_NAME="${LOCAL_NODE_NAME}" NODE_IP="${LOCAL_NODE_IP}" \
  bash "${HERE}/node/start.sh"
wait_for "containerd" 30 test -S "${LOCAL_CONTAINERD_SOCK}"

# 5. Controllers, scheduler, kube-proxy.
start_process kube-controller-manager "${KUBE_BIN}/kube-controller-manager" \
  --kubeconfig="${P}/controller-manager.kubeconfig" --authentication-kubeconfig="${P}/controller-manager.kubeconfig" \
  --authorization-kubeconfig="${P}/controller-manager.kubeconfig" --bind-address=127.0.0.1 --secure-port=10257 \
  --service-account-private-key-file="${P}/sa.key" --root-ca-file="${P}/ca.crt" \
  --cluster-signing-cert-file="${P}/ca.crt" --cluster-signing-key-file="${P}/ca.key" \
  --use-service-account-credentials=true --leader-elect=false --allocate-node-cidrs=false \
  --service-cluster-ip-range="${LOCAL_SERVICE_CIDR}" --controllers='*,bootstrapsigner,tokencleaner'
start_process kube-scheduler "${KUBE_BIN}/kube-scheduler" --kubeconfig="${P}/scheduler.kubeconfig" \
  --authentication-kubeconfig="${P}/scheduler.kubeconfig" --authorization-kubeconfig="${P}/scheduler.kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1
start_process kube-proxy "${KUBE_BIN}/kube-proxy" --kubeconfig="${P}/proxy.kubeconfig" \
  --hostname-override="${LOCAL_NODE_NAME}" --cluster-cidr=10.244.0.0/16 --proxy-mode=iptables \
  --conntrack-max-per-core=0 --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256

# 6. The images every pod of the cluster itself needs (pause, CoreDNS); the workloads' images
# come from images.sh.
bash "${HERE}/images.sh" --cluster
wait_for "node ${LOCAL_NODE_NAME}" 120 local_kubectl get node "${LOCAL_NODE_NAME}"
local_kubectl wait --for=condition=Ready "node/${LOCAL_NODE_NAME}" --timeout=120s >/dev/null
progress "node ${LOCAL_NODE_NAME} Ready (containerd $(containerd --version | awk '{print $3}'), runc)"

wait_for "service account default/default" 60 local_kubectl -n default get serviceaccount default
sed -e "s#@DNS_IP@#${LOCAL_DNS_IP}#g" -e "s#@COREDNS_VERSION@#${COREDNS_VERSION#v}#g" "${HERE}/node/coredns.yaml.in" |
  local_kubectl apply -f - >/dev/null
local_kubectl -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null
# NetworkPolicy enforcement (the bridge plugin enforces none): kube-router's firewall only, with
# read-only access to what it watches. Its iptables chains and ipsets live in the node's namespace.
local_kubectl apply -f "${HERE}/node/kube-router-rbac.yaml" >/dev/null
start_process kube-router "${KUBE_ROUTER_BIN}/kube-router" --kubeconfig="${P}/kube-router.kubeconfig" \
  --hostname-override="${LOCAL_NODE_NAME}" --run-firewall=true --run-router=false --run-service-proxy=false \
  --health-port=0 --metrics-port=0
wait_for "kube-router's NetworkPolicy chains" 60 in_node iptables -w -n -L KUBE-ROUTER-FORWARD
# kubectl and istioctl for the cluster from anywhere on the machine: they enter its network namespace.
mkdir -p "${LOCAL_DIR}/bin"
for tool in "${KUBE_BIN}/kubectl" "${ISTIO_BIN}/istioctl"; do
  cat >"${LOCAL_DIR}/bin/$(basename "${tool}")" <<WRAPPER
#!/bin/sh
# $(basename "${tool}") in the single-node cluster's network namespace (scripts/local-cluster/up.sh)
KUBECONFIG="\${KUBECONFIG:-${LOCAL_KUBECONFIG}}" exec nsenter --net=/run/netns/${LOCAL_NETNS} ${tool} "\$@"
WRAPPER
  chmod +x "${LOCAL_DIR}/bin/$(basename "${tool}")"
done
trap - ERR
progress "CoreDNS ready, kube-router enforcing NetworkPolicies: cluster up; kubectl: ${LOCAL_DIR}/bin/kubectl (enters the cluster's network namespace)"
