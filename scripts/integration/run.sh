#!/usr/bin/env bash
# The real-component tier: provisions the tools (cached), then runs jest on test/integration/.
# Every server the tests start runs in its own process group, listed in $MESHWARD_INTEG_RUN/pgids;
# the trap kills whatever is left there, even when jest fails or is interrupted.
#
#   scripts/integration/run.sh [jest args...]      e.g. run.sh test/integration/envoy.test.ts
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"

started=${SECONDS}
bash scripts/integration/provision.sh
echo "[integration] provisioning took $((SECONDS - started))s" >&2

MESHWARD_INTEG_RUN="$(mktemp -d "${TMPDIR:-/tmp}/meshward-integ.XXXXXX")"
export MESHWARD_INTEG_RUN

cluster_up=0
cleaned=0
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local pgid
  ((cleaned)) && return 0
  cleaned=1
  if ((cluster_up)); then
    if [[ "${MESHWARD_KEEP_RUN:-}" == "1" ]]; then
      MESHWARD_LOCAL_KEEP_LOGS=1 bash scripts/local-cluster/down.sh >&2 || true
    else
      bash scripts/local-cluster/down.sh >&2 || true
    fi
  fi
  if [[ -f "${MESHWARD_INTEG_RUN}/pgids" ]]; then
    while read -r pgid; do
      kill -KILL -- "-${pgid}" 2>/dev/null || true
    done <"${MESHWARD_INTEG_RUN}/pgids"
  fi
  if [[ "${MESHWARD_KEEP_RUN:-}" == "1" ]]; then
    echo "[integration] logs kept in ${MESHWARD_INTEG_RUN}" >&2
  else
    rm -rf "${MESHWARD_INTEG_RUN}"
  fi
}
# On an interrupt the foreground child (local-up.sh, jest) gets the signal too and ends; then the
# script exits, and the EXIT trap cleans up once.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Which tests: no arguments runs every file, the cluster's last; arguments naming files under
# test/integration/cluster/ run only those (with the cluster), other arguments go to jest as given.
cluster_dir=test/integration/cluster
run_plain=1 run_cluster=1
if (($#)); then
  run_cluster=0
  for arg in "$@"; do [[ "${arg}" == *"${cluster_dir}"* ]] && run_cluster=1; done
  ((run_cluster)) && run_plain=0
fi
jest() {
  node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --config test/integration/jest.config.js "$@"
}

status=0
if ((run_plain)); then
  tests_started=${SECONDS}
  jest --testPathIgnorePatterns "/${cluster_dir}/" "$@" || status=$?
  echo "[integration] tests without the cluster took $((SECONDS - tests_started))s" >&2
fi

# The single-node cluster (scripts/local-up.sh, the same Istio install, Secrets and deploy.sh that
# kind-up.sh runs), brought up once for every file under test/integration/cluster/ and torn down
# by the trap below: every process, mount, network namespace and cgroup of it goes.
if ((run_cluster)); then
  if ip netns list 2>/dev/null | grep -qw meshward-node; then
    echo "[integration] a single-node cluster is already up (network namespace meshward-node): stop it with scripts/local-cluster/down.sh first" >&2
    exit 1
  fi
  cluster_up=1
  cluster_started=${SECONDS}
  if ! bash scripts/local-up.sh >"${MESHWARD_INTEG_RUN}/local-up.log" 2>&1; then
    echo "[integration] scripts/local-up.sh failed; the last lines of its log:" >&2
    tail -n 40 "${MESHWARD_INTEG_RUN}/local-up.log" >&2
    MESHWARD_LOCAL_KEEP_LOGS=1 bash scripts/local-cluster/down.sh >&2 || true
    exit 1
  fi
  grep -E '^\[meshward\] ([0-9]/5|\[local-cluster|images)' "${MESHWARD_INTEG_RUN}/local-up.log" >&2 || true
  echo "[integration] single-node cluster with the shop deployed in $((SECONDS - cluster_started))s" >&2
  tests_started=${SECONDS}
  if (($#)); then cluster_args=("$@"); else cluster_args=("${cluster_dir}"); fi
  jest "${cluster_args[@]}" || status=$?
  echo "[integration] cluster tests took $((SECONDS - tests_started))s" >&2
fi
echo "[integration] tier total $((SECONDS - started))s" >&2
exit "${status}"
