#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Brings up the shop on kind: cluster, Istio (CNI agent, DECODE_AND_MERGE_SLASHES), service
# images, Secrets (random values when absent), then `scripts/deploy.sh`. Idempotent.
#
#   scripts/kind-up.sh [--dry-run] [--name NAME]      (default name: meshward)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

parse_up_args "${BASH_SOURCE[0]}" meshward "$@"
KCTX="kind-${CLUSTER_NAME}"

require_docker
require_kind
require_kubectl
require_istioctl
require_openssl

log "1/5 cluster '${CLUSTER_NAME}' (context ${KCTX})"
if probe kind get kubeconfig --name "${CLUSTER_NAME}"; then
  log "cluster '${CLUSTER_NAME}' exists: kept"
else
  run kind create cluster --name "${CLUSTER_NAME}" --wait 120s
fi

# The service images, built with Docker and loaded into the cluster's nodes.
load_images() {
  local name
  build_images
  for name in $(service_names); do
    run kind load docker-image "meshward/${name}:${IMAGE_VERSION}" --name "${CLUSTER_NAME}"
  done
}
mesh_up load_images
