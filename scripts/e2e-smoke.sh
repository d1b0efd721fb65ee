#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The access matrix's key rows over real HTTP, against a cluster deployed with kind-up.sh /
# minikube-up.sh: real tokens from Keycloak through the gateway (authorization code + PKCE for
# the demo users), then shop-web and public 200, no token 403, USER 200 on own orders, USER 403 on admin,
# ADMIN 200, USER asking for admin:read still 403 on every order (the realm grants the scope to
# ADMIN only), ADMIN with it 200, payment-service unreachable from outside, plaintext pod refused.
#
#   scripts/e2e-smoke.sh [--dry-run] [--context NAME] [--port LOCAL_PORT]   (default port 8443)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CONTEXT=""
PORT=8443
SHOP=https://shop.example.com
AUTH=https://auth.shop.example.com/realms/shop/protocol/openid-connect
REDIRECT=https://shop.example.com/callback
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --context | --port)
      [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"
      if [[ "$1" == "--context" ]]; then CONTEXT="$2"; else PORT="$2"; fi
      shift
      ;;
    -h | --help)
      sed -n '3,9p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument '$1' (see scripts/e2e-smoke.sh --help)" ;;
  esac
  shift
done
[[ "${PORT}" =~ ^[0-9]+$ && "${PORT}" -ge 1 && "${PORT}" -le 65535 ]] || die "--port '${PORT}' must be 1-65535"

require_kubectl
require_curl
require_openssl
if [[ -z "${CONTEXT}" ]]; then
  CONTEXT="$(kubectl config current-context 2>/dev/null || true)"
  [[ -n "${CONTEXT}" ]] || die "no current kube context: pass --context"
fi
log "kube context: ${CONTEXT}"
K=(kubectl --context "${CONTEXT}")
# Every host name goes to the port-forwarded gateway; TLS is the self-signed one from kind-up.sh.
CURL=(curl -sk --connect-to "::127.0.0.1:${PORT}")

WORK="$(mktemp -d)"
pf_pid=""
cleanup() {
  if [[ -n "${pf_pid}" ]]; then kill "${pf_pid}" 2>/dev/null || true; fi
  rm -rf "${WORK}"
}
trap cleanup EXIT

show "${K[@]}" -n istio-system port-forward svc/istio-ingressgateway "${PORT}:443"
if [[ "${DRY_RUN}" != "1" ]]; then
  "${K[@]}" -n istio-system port-forward svc/istio-ingressgateway "${PORT}:443" >"${WORK}/pf.log" 2>&1 &
  pf_pid=$!
  for _ in $(seq 1 30); do
    "${CURL[@]}" -o /dev/null "${SHOP}/" && break
    kill -0 "${pf_pid}" 2>/dev/null || die "port-forward to the gateway failed: $(cat "${WORK}/pf.log")"
    sleep 1
  done
fi

secret() {
  if [[ "${DRY_RUN}" == "1" ]]; then
    show "${K[@]}" -n auth get secret keycloak-demo-users -o "jsonpath={.data.$1}"
    echo "<$1>"
    return 0
  fi
  "${K[@]}" -n auth get secret keycloak-demo-users -o "jsonpath={.data.$1}" | base64 -d
}

# pkce_token USER PASSWORD [SCOPE]: an access token for shop-web through the real login form.
# SCOPE is URL-encoded already (default openid).
pkce_token() {
  local user="$1" password="$2" scope="${3:-openid}" verifier challenge jar="${WORK}/cookies-$1-${3:-openid}" action location code
  verifier="$(openssl rand -hex 32)"
  challenge="$(printf '%s' "${verifier}" | openssl dgst -binary -sha256 | openssl base64 -A | tr '+/' '-_' | tr -d '=')"
  local auth_url="${AUTH}/auth?client_id=shop-web&response_type=code&scope=${scope}&redirect_uri=${REDIRECT}&code_challenge=${challenge}&code_challenge_method=S256"
  if [[ "${DRY_RUN}" == "1" ]]; then
    show "${CURL[@]}" -c "${jar}" "${auth_url}"
    show "${CURL[@]}" -b "${jar}" -c "${jar}" -o /dev/null -w '%{redirect_url}' --data-urlencode "username=${user}" --data-urlencode 'password=<redacted>' '<login form action>'
    show "${CURL[@]}" -d grant_type=authorization_code -d client_id=shop-web -d 'code=<code>' -d "redirect_uri=${REDIRECT}" -d 'code_verifier=<verifier>' "${AUTH}/token"
    echo "<token of ${user}>"
    return 0
  fi
  action="$("${CURL[@]}" -c "${jar}" "${auth_url}" | grep -o 'action="[^"]*"' | head -n 1 | sed -e 's/^action="//' -e 's/"$//' -e 's/&amp;/\&/g')"
  [[ -n "${action}" ]] || die "Keycloak's login page for '${user}' has no login form (is the realm imported?)"
  location="$("${CURL[@]}" -b "${jar}" -c "${jar}" -o /dev/null -w '%{redirect_url}' \
    --data-urlencode "username=${user}" --data-urlencode "password=${password}" "${action}")"
  code="$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"${location}")"
  [[ -n "${code}" ]] || die "login of '${user}' did not redirect with a code (got '${location}')"
  "${CURL[@]}" -d grant_type=authorization_code -d client_id=shop-web -d "code=${code}" \
    -d "redirect_uri=${REDIRECT}" -d "code_verifier=${verifier}" "${AUTH}/token" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# Asking for the scope that reads every order; Keycloak grants it to ADMIN only.
READ_ALL='openid%20admin%3Aread'

failures=0
# expect ROW WANT METHOD PATH [TOKEN]
expect() {
  local row="$1" want="$2" method="$3" path="$4" token="${5:-}" got
  local args=("${CURL[@]}" -o /dev/null -w '%{http_code}' -X "${method}")
  [[ -z "${token}" ]] || args+=(-H "Authorization: Bearer ${token}")
  if [[ "${DRY_RUN}" == "1" ]]; then
    show "${CURL[@]}" -o /dev/null -w '%{http_code}' -X "${method}" ${token:+-H "Authorization: Bearer <token>"} "${SHOP}${path}"
    return 0
  fi
  got="$("${args[@]}" "${SHOP}${path}" || true)"
  if [[ "${got}" == "${want}" ]]; then
    log "ok   ${row}: ${method} ${path} -> ${got}"
  else
    log "FAIL ${row}: ${method} ${path} -> ${got} (want ${want})"
    failures=$((failures + 1))
  fi
}

if [[ "${DRY_RUN}" == "1" ]]; then
  # Not captured, so the dry run prints the token requests too.
  secret alice-password && pkce_token alice '<alice-password>'
  secret admin-bob-password && pkce_token admin-bob '<admin-bob-password>'
  pkce_token alice '<alice-password>' "${READ_ALL}"
  user_token='<token>' admin_token='<token>' user_read_all_token='<token>' admin_read_all_token='<token>'
else
  user_token="$(pkce_token alice "$(secret alice-password)")"
  admin_token="$(pkce_token admin-bob "$(secret admin-bob-password)")"
  user_read_all_token="$(pkce_token alice "$(secret alice-password)" "${READ_ALL}")"
  admin_read_all_token="$(pkce_token admin-bob "$(secret admin-bob-password)" "${READ_ALL}")"
  [[ -n "${user_token}" && -n "${admin_token}" && -n "${user_read_all_token}" && -n "${admin_read_all_token}" ]] ||
    die "could not get the demo users' tokens from Keycloak"
fi

expect 'shop-web, no token' 200 GET /
expect 'public route, no token' 200 GET /api/public/catalog
expect 'protected route, no token' 403 GET /api/orders
expect 'USER on own orders' 200 GET /api/orders "${user_token}"
expect 'USER on an admin route' 403 GET /api/admin/stats "${user_token}"
expect 'ADMIN on an admin route' 200 GET /api/admin/stats "${admin_token}"
expect 'USER asking for admin:read, on every order' 403 GET /api/orders/admin/all "${user_read_all_token}"
expect 'ADMIN without admin:read, on every order' 403 GET /api/orders/admin/all "${admin_token}"
expect 'ADMIN with admin:read, on every order' 200 GET /api/orders/admin/all "${admin_read_all_token}"
# The gateway's ALLOW policy names no payment-service route: refused before routing (403).
expect 'payment-service is not reachable from outside' 403 GET /api/payments/1 "${user_token}"

# A pod without a sidecar (namespace default has no injection) speaks plaintext: STRICT resets it.
plain=("${K[@]}" -n default run meshward-smoke-plaintext --image=curlimages/curl:8.10.1
  --restart=Never --rm -i --quiet --command -- curl -s -o /dev/null -w '%{http_code}'
  http://order-service.shop.svc.cluster.local:8080/api/public/catalog)
if [[ "${DRY_RUN}" == "1" ]]; then
  show "${plain[@]}"
else
  got="$("${plain[@]}" 2>/dev/null || true)"
  if [[ -z "${got}" || "${got}" =~ ^(000)+$ ]]; then
    log "ok   plaintext pod refused (connection reset)"
  else
    log "FAIL plaintext pod got HTTP ${got} (want a reset)"
    failures=$((failures + 1))
  fi
fi

if [[ "${DRY_RUN}" == "1" ]]; then exit 0; fi
[[ "${failures}" -eq 0 ]] || die "${failures} row(s) of the access matrix failed"
log "all rows passed"
