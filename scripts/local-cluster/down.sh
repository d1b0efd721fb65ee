#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stops the single-node cluster of up.sh and removes every trace of it: pod processes (by the
# cluster's cgroup), the components (by recorded PID), containerd's shims, the three network
# namespaces, the cgroups, and LOCAL_DIR (kept when MESHWARD_LOCAL_KEEP_LOGS=1, for its logs).
# Safe to run when nothing is up; prints what it stopped.
#
#   scripts/local-cluster/down.sh
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# 1. Every process of every pod lives under the cluster's cgroup: only pods are there.
for _ in 1 2 3 4 5; do
  pids="$(find "/sys/fs/cgroup/pids/${LOCAL_CGROUP}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
  [[ -n "${pids}" ]] || break
  # shellcheck disable=SC2086 # a list of PIDs
  kill -KILL ${pids} 2>/dev/null
  sleep 0.5
done

# 2. The components, newest first: TERM, then KILL what is left.
if [[ -f "${LOCAL_DIR}/pids" ]]; then
  stopped=()
  while read -r name pid; do
    kill -TERM "${pid}" 2>/dev/null && stopped+=("${name}")
  done < <(tac "${LOCAL_DIR}/pids")
  ((${#stopped[@]})) && log "stopped ${stopped[*]}"
  for _ in $(seq 1 20); do
    alive=0
    while read -r _ pid; do kill -0 "${pid}" 2>/dev/null && alive=1; done <"${LOCAL_DIR}/pids"
    ((alive)) || break
    sleep 0.25
  done
  while read -r _ pid; do kill -KILL "${pid}" 2>/dev/null; done <"${LOCAL_DIR}/pids"
fi

# 3. containerd's shims name its socket on their command line.
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address ${LOCAL_CONTAINERD_SOCK}"); do
  kill -KILL "${pid}" 2>/dev/null
done

# 4. Network namespaces and cgroups (a cgroup goes once its processes are gone).
for netns in "${LOCAL_NETNS}" "${LOCAL_SINK}" "${LOCAL_INTERNET}"; do
  ip netns del "${netns}" 2>/dev/null
done
for _ in 1 2 3 4 5; do
  for hierarchy in /sys/fs/cgroup/*/"${LOCAL_CGROUP}"; do
    [[ -d "${hierarchy}" ]] && find "${hierarchy}" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  compgen -G "/sys/fs/cgroup/*/${LOCAL_CGROUP}" >/dev/null || break
  sleep 0.5
done

# 5. The files (the overlay mounts lived in the node's private mount namespace, gone with it).
if [[ "${MESHWARD_LOCAL_KEEP_LOGS:-0}" == "1" ]]; then
  [[ -d "${LOCAL_DIR}/logs" ]] && log "logs kept in ${LOCAL_DIR}/logs"
  find "${LOCAL_DIR}" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} + 2>/dev/null
else
  rm -rf "${LOCAL_DIR}" 2>/dev/null
fi

left=()
ip netns list 2>/dev/null | grep -qw "${LOCAL_NETNS}" && left+=("network namespace ${LOCAL_NETNS}")
compgen -G "/sys/fs/cgroup/*/${LOCAL_CGROUP}" >/dev/null && left+=("cgroup /${LOCAL_CGROUP}")
pgrep -f "${LOCAL_DIR}/" >/dev/null && left+=("processes naming ${LOCAL_DIR}")
if ((${#left[@]})); then
  log "down: left behind: ${left[*]}"
  exit 1
fi
log "down: nothing of the single-node cluster is left"
