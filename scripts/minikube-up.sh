#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Brings up the shop on minikube: cluster, Istio (CNI agent, DECODE_AND_MERGE_SLASHES), service
# images, Secrets (random values when absent), then `scripts/deploy.sh`. Idempotent.
#
#   scripts/minikube-up.sh [--dry-run] [--name NAME]      (default profile: minikube)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

parse_up_args "${BASH_SOURCE[0]}" minikube "$@"
KCTX="${CLUSTER_NAME}"

require_docker
require_minikube
require_kubectl
require_istioctl
require_openssl

log "1/5 cluster '${CLUSTER_NAME}' (context ${KCTX})"
if probe minikube status --profile "${CLUSTER_NAME}"; then
  log "cluster '${CLUSTER_NAME}' is running: kept"
else
  # 4 CPUs / 8 GiB: Keycloak and istiod need room; the CNI plugin is chained by Istio's agent.
  run minikube start --profile "${CLUSTER_NAME}" --cpus 4 --memory 8g --cni bridge --wait all
fi

# The service images, built with Docker and loaded into the cluster's nodes.
load_images() {
  local name
  build_images
  for name in $(service_names); do
    run minikube image load "meshward/${name}:${IMAGE_VERSION}" --profile "${CLUSTER_NAME}"
  done
}
mesh_up load_images
