#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `npm run deploy`: applies dist/ to a kind or minikube cluster, in order, with server-side apply,
# then waits for the rollouts and prints the gateway URL and how to get a token.
#
#   scripts/deploy.sh [--dry-run] [--context NAME] [--dist DIR] [--timeout SECONDS] [--namespaces-only]
#                     [--force-conflicts]   (take back fields another manager changed, e.g. kubectl patch)
# (--dist defaults to $MESHWARD_DIST, else dist/)
#
# Without --context the current context must look like kind (kind-*) or minikube; any other
# context must be named explicitly with --context.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CONTEXT=""
DIST_DIR="${MESHWARD_DIST:-${REPO_ROOT}/dist}"
TIMEOUT=300
NAMESPACES_ONLY=0
APPLY_FLAGS=(--server-side --field-manager=meshward)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --namespaces-only) NAMESPACES_ONLY=1 ;;
    --force-conflicts) APPLY_FLAGS+=(--force-conflicts) ;;
    --context | --dist | --timeout)
      [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"
      case "$1" in
        --context) CONTEXT="$2" ;;
        --dist) DIST_DIR="$2" ;;
        --timeout) TIMEOUT="$2" ;;
      esac
      shift
      ;;
    -h | --help)
      sed -n '3,12p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument '$1' (see scripts/deploy.sh --help)" ;;
  esac
  shift
done
[[ "${TIMEOUT}" =~ ^[1-9][0-9]*$ ]] || die "--timeout '${TIMEOUT}' must be a positive number of seconds"

require_kubectl

# 1. The kube context.
if [[ -z "${CONTEXT}" ]]; then
  CONTEXT="$(kubectl config current-context 2>/dev/null || true)"
  [[ -n "${CONTEXT}" ]] || die "no current kube context: create a cluster (scripts/kind-up.sh) or pass --context"
  if [[ ! "${CONTEXT}" =~ ^kind- && ! "${CONTEXT}" =~ ^minikube ]]; then
    die "current kube context '${CONTEXT}' does not look like kind (kind-*) or minikube: refusing; pass --context '${CONTEXT}' to deploy there on purpose"
  fi
fi
log "kube context: ${CONTEXT}"
K=(kubectl --context "${CONTEXT}")

# 2. dist/ must be newer than its sources.
shopt -s nullglob
dist_files=("${DIST_DIR}"/*.yaml)
shopt -u nullglob
[[ ${#dist_files[@]} -gt 0 ]] || die "no manifests in '${DIST_DIR}': run 'npm run synth'"
oldest="${dist_files[0]}"
for file in "${dist_files[@]}"; do
  [[ "${file}" -ot "${oldest}" ]] && oldest="${file}"
done
newer="$(find "${REPO_ROOT}/policies" "${REPO_ROOT}/charts" -name '*.ts' -newer "${oldest}" -print -quit)"
if [[ -n "${newer}" ]]; then
  die "dist/ is older than its sources (${newer#"${REPO_ROOT}"/} changed after ${oldest#"${REPO_ROOT}"/}): run 'npm run synth' first"
fi

# Splits the documents of dist/ into namespaces and the rest (kind at column 0, as cdk8s writes);
# a new file starts a new document even without a leading `---`.
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
# RequestAuthentications go last, after the rollouts. Where istiod fetches the JWKS (Istio's
# default) it does when a RequestAuthentication arrives, and a fetch that fails (Keycloak still
# starting) leaves a key that verifies nothing, so every token gets 401 until some later config
# change makes istiod fetch again (found on the single-node cluster; istiod drops the failed entry
# and its background refresh has nothing left to refresh). With the installed mesh
# (PILOT_JWT_ENABLE_REMOTE_JWKS=envoy) the proxies fetch when a request needs the keys. Until the
# RequestAuthentications are applied, routes that need a token are denied: closed.
awk -v ns="${WORK}/namespaces.yaml" -v rest="${WORK}/objects.yaml" -v authn="${WORK}/requestauthentications.yaml" '
  function flush() { if (doc != "") { print "---\n" doc > ((isns) ? ns : (isauthn) ? authn : rest) } doc = ""; isns = 0; isauthn = 0 }
  FNR == 1 { flush() }
  /^---/ { flush(); next }
  { doc = doc $0 "\n"; if ($0 ~ /^kind: Namespace[ \t]*$/) isns = 1; if ($0 ~ /^kind: RequestAuthentication[ \t]*$/) isauthn = 1 }
  END { flush() }
' "${dist_files[@]}"
touch "${WORK}/namespaces.yaml" "${WORK}/objects.yaml" "${WORK}/requestauthentications.yaml"
namespaces="$(awk '/^kind: Namespace/ { want = 1 } want && /^  name:/ { print $2; want = 0 }' "${WORK}/namespaces.yaml")"

# 3. The Istio CRDs that dist/ uses must be installed and Established.
crds="$(awk '/^apiVersion:/ { group = $2; sub(/\/.*/, "", group) } /^kind:/ { if (group ~ /istio\.io$/) print $2 "." group }' "${dist_files[@]}" |
  sort -u | tr '[:upper:]' '[:lower:]' | sed -E 's/^([a-z]*[^aeiou.])y\./\1ies./; t; s/^([a-z]+)\./\1s./')"
for crd in ${crds}; do
  if ! probe "${K[@]}" get crd "${crd}" && [[ "${DRY_RUN}" != "1" ]]; then
    die "CRD ${crd} is not installed in '${CONTEXT}': install Istio first (scripts/kind-up.sh, or istioctl install -f scripts/istio/mesh.yaml); nothing was applied"
  fi
  run "${K[@]}" wait --for=condition=Established "crd/${crd}" --timeout=60s ||
    die "CRD ${crd} is not Established in '${CONTEXT}'; nothing was applied"
done

# 4. Namespaces first; refuse one stuck Terminating.
for namespace in ${namespaces}; do
  phase=""
  [[ "${DRY_RUN}" == "1" ]] || phase="$("${K[@]}" get namespace "${namespace}" -o 'jsonpath={.status.phase}' 2>/dev/null || true)"
  if [[ "${phase}" == "Terminating" ]]; then
    die "namespace '${namespace}' is stuck Terminating (see: kubectl --context ${CONTEXT} get namespace ${namespace} -o yaml, .spec.finalizers and .status.conditions); wait for it to go or clear its finalizers; nothing was applied"
  fi
done
log "applying namespaces: ${namespaces//$'\n'/ }"
run "${K[@]}" apply "${APPLY_FLAGS[@]}" -f "${WORK}/namespaces.yaml"
for namespace in ${namespaces}; do
  run "${K[@]}" wait --for=jsonpath='{.status.phase}'=Active "namespace/${namespace}" --timeout=60s ||
    die "namespace '${namespace}' did not become Active within 60s; only the namespaces were applied"
done
if [[ "${NAMESPACES_ONLY}" == "1" ]]; then exit 0; fi

# 5. Everything else.
log "applying $(grep -c '^kind:' "${WORK}/objects.yaml") objects"
run "${K[@]}" apply "${APPLY_FLAGS[@]}" -f "${WORK}/objects.yaml" ||
  die "kubectl apply failed: the namespaces are applied and the objects before the error may be; fix the cause and re-run (server-side apply is idempotent); a field conflict means another manager changed a meshward field (see meshward doctor): --force-conflicts takes it back"

# 6. Rollouts, with the failing pods' events on a timeout.
workloads="$(awk '
  /^kind:/ { kind = $2; name = ""; ns = "" }
  /^  name:/ && name == "" { name = $2 }
  /^  namespace:/ && ns == "" { ns = $2 }
  /^spec:/ && (kind == "Deployment" || kind == "StatefulSet") { print tolower(kind) "/" name " " ns }
' "${WORK}/objects.yaml")"
total="$(grep -c . <<<"${workloads}" || true)"
index=0
while read -r workload namespace; do
  [[ -n "${workload}" ]] || continue
  index=$((index + 1))
  log "[${index}/${total}] waiting for ${namespace}/${workload} (timeout ${TIMEOUT}s)"
  if ! run "${K[@]}" -n "${namespace}" rollout status "${workload}" --timeout="${TIMEOUT}s"; then
    log "${namespace}/${workload} is not ready after ${TIMEOUT}s; its pods and their events:"
    app="${workload#*/}"
    "${K[@]}" -n "${namespace}" get pods -l "app=${app}" -o wide >&2 || true
    for pod in $("${K[@]}" -n "${namespace}" get pods -l "app=${app}" -o name 2>/dev/null); do
      "${K[@]}" -n "${namespace}" events --for "${pod}" >&2 || true
    done
    die "rollout of ${namespace}/${workload} timed out; everything was applied, the workloads after it were not waited for"
  fi
done <<<"${workloads}"

# 7. The RequestAuthentications, now that their issuers answer (see the split above).
authn_count="$(grep -c '^kind: RequestAuthentication' "${WORK}/requestauthentications.yaml" || true)"
if [[ "${authn_count}" -gt 0 ]]; then
  log "applying ${authn_count} RequestAuthentication(s) after the rollouts (their issuers answer now)"
  run "${K[@]}" apply "${APPLY_FLAGS[@]}" -f "${WORK}/requestauthentications.yaml" ||
    die "kubectl apply of the RequestAuthentications failed: everything else is applied; routes that need a token are denied until they are"
fi

# 8. Where to go next.
cat <<INFO
[meshward] deployed to ${CONTEXT}.
Gateway (self-signed TLS; in another shell):
  kubectl --context ${CONTEXT} -n istio-system port-forward svc/istio-ingressgateway 8443:443
  shop:     https://shop.example.com:8443/        (curl -k --resolve shop.example.com:8443:127.0.0.1 ...)
  Keycloak: https://auth.shop.example.com:8443/realms/shop
Token, client credentials (the payment reconciler's client):
  SECRET=\$(kubectl --context ${CONTEXT} -n auth get secret payment-reconciler-oauth -o jsonpath='{.data.client-secret}' | base64 -d)
  curl -k --resolve auth.shop.example.com:8443:127.0.0.1 \\
    -d grant_type=client_credentials -d client_id=payment-reconciler -d client_secret="\$SECRET" \\
    https://auth.shop.example.com:8443/realms/shop/protocol/openid-connect/token
Token for a user (authorization code + PKCE, public client shop-web): open
  https://auth.shop.example.com:8443/realms/shop/protocol/openid-connect/auth?client_id=shop-web&response_type=code&redirect_uri=https://shop.example.com/callback&scope=openid&code_challenge=<S256 of your verifier>&code_challenge_method=S256
  and exchange the code at the token endpoint with code_verifier (demo users: kubectl -n auth get secret keycloak-demo-users).
Check the cluster: npm run doctor -- --context ${CONTEXT}
INFO
