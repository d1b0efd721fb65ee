#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Brings up the shop on a real single-node Kubernetes on this machine (no Docker, no registry):
# the cluster of scripts/local-cluster/up.sh, then the same steps kind-up.sh and minikube-up.sh
# run (Istio with its CNI agent, images, Secrets, scripts/deploy.sh), with locally built images.
# Needs root and the tools of scripts/integration/provision.sh. Stop it with
# scripts/local-cluster/down.sh. Idempotent: a running cluster is kept.
#
#   scripts/local-up.sh [--dry-run]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/local-cluster/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

for arg in "$@"; do
  case "${arg}" in
    --dry-run) DRY_RUN=1 ;;
    -h | --help)
      sed -n '3,8p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument '${arg}' (usage: scripts/local-up.sh [--dry-run])" ;;
  esac
done
KCTX="${LOCAL_CONTEXT}"

log "1/5 single-node cluster (context ${KCTX}, kubeconfig ${LOCAL_KUBECONFIG})"
if probe ip netns pids "${LOCAL_NETNS}"; then
  log "cluster is up: kept"
else
  run bash "${REPO_ROOT}/scripts/local-cluster/up.sh"
fi
# The API server lives in the cluster's network namespace: up.sh leaves kubectl and istioctl
# wrappers that run the provisioned binaries there, with the cluster's kubeconfig.
export PATH="${LOCAL_DIR}/bin:${PATH}"

# Images: built from the Dockerfiles' contents and the provisioned binaries, imported into
# the node's containerd under the names dist/ uses.
load_images() {
  run bash "${REPO_ROOT}/scripts/local-cluster/images.sh" --workloads
}

mesh_up load_images -f "${REPO_ROOT}/scripts/istio/local.yaml" \
  --set "values.cni.cniBinDir=${LOCAL_DIR}/cni/bin" --set "values.cni.cniConfDir=${LOCAL_DIR}/cni/net.d"
