#!/usr/bin/env bash
# Starts containerd and the kubelet of the single-node cluster. Runs inside the node's network
# namespace and a private mount namespace of its own (scripts/local-cluster/up.sh starts it):
# both processes share that mount namespace, so the kubelet's volume mounts reach containerd.
set -euo pipefail
for sysctl in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
  mount --bind "${LOCAL_DIR}/sysctl-view/${sysctl#*/}" "/proc/sys/${sysctl}"
done
# The kubelet's and the CNI agent's host paths under /run stay in this namespace's own tmpfs.
mount -t tmpfs -o mode=0755 tmpfs /run
sysctl -qw net.ipv4.ip_forward=1
if [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then sysctl -qw net.bridge.bridge-nf-call-iptables=1; fi
setsid containerd --config "${LOCAL_DIR}/containerd.toml" >"${LOCAL_DIR}/logs/containerd.log" 2>&1 </dev/null &
echo "containerd $!" >>"${LOCAL_DIR}/pids"
for _ in $(seq 1 60); do
  [[ -S "${LOCAL_DIR}/containerd.sock" ]] && break
  sleep 0.5
done
setsid "${KUBELET}" --config="${LOCAL_DIR}/kubelet.yaml" --kubeconfig="${LOCAL_DIR}/pki/kubelet.kubeconfig" \
  --root-dir="${LOCAL_DIR}/kubelet" --hostname-override="${NODE_NAME}" --node-ip="${NODE_IP}" --v=1 \
  >"${LOCAL_DIR}/logs/kubelet.log" 2>&1 </dev/null &
echo "kubelet $!" >>"${LOCAL_DIR}/pids"
