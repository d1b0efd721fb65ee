#!/usr/bin/env bash
# Steps shared by kind-up.sh and minikube-up.sh: Istio, images, Secrets. Needs common.sh and
# KCTX (the kube context) set by the caller.

# parse_up_args SCRIPT DEFAULT_NAME ARGS...: the options kind-up.sh and minikube-up.sh share,
# [--dry-run] [--name NAME] [-h|--help]. Sets DRY_RUN and CLUSTER_NAME (checked: a DNS label).
parse_up_args() {
  local script="$1" usage
  usage="usage: $(basename "$1") [--dry-run] [--name NAME]"
  CLUSTER_NAME="$2"
  shift 2
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --name)
        [[ $# -ge 2 ]] || die "--name needs a value"
        CLUSTER_NAME="$2"
        shift
        ;;
      -h | --help)
        sed -n '3,7p' "${script}"
        exit 0
        ;;
      *) die "unknown argument '$1' (${usage})" ;;
    esac
    shift
  done
  [[ "${CLUSTER_NAME}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] ||
    die "cluster name '${CLUSTER_NAME}' must be lower-case letters, digits and '-'"
}

# The service images: one per services/<name>/Dockerfile, tagged meshward/<name>:<version>.
IMAGE_VERSION="${IMAGE_VERSION:-0.1.0}"
service_names() {
  local dockerfile
  for dockerfile in "${REPO_ROOT}"/services/*/Dockerfile; do
    [[ -f "${dockerfile}" ]] || continue
    basename "$(dirname "${dockerfile}")"
  done
}

build_images() {
  local name
  for name in $(service_names); do
    run docker build -t "meshward/${name}:${IMAGE_VERSION}" -f "services/${name}/Dockerfile" "${REPO_ROOT}"
  done
}

# install_istio [ISTIOCTL_ARG...]: `istioctl install -f scripts/istio/mesh.yaml` plus the caller's
# arguments (the single-node cluster adds its images and CNI paths). Declarative: a second run
# with the same arguments changes nothing.
install_istio() {
  run istioctl install --context "${KCTX}" -y -f "${REPO_ROOT}/scripts/istio/mesh.yaml" "$@"
  run kubectl --context "${KCTX}" -n istio-system rollout status deployment/istiod --timeout=300s
  run kubectl --context "${KCTX}" -n istio-system rollout status daemonset/istio-cni-node --timeout=300s
}

# run_deploy ARG...: scripts/deploy.sh against KCTX (with --dry-run when DRY_RUN=1).
run_deploy() {
  local dry=()
  [[ "${DRY_RUN}" == "1" ]] && dry=(--dry-run)
  bash "${REPO_ROOT}/scripts/deploy.sh" --context "${KCTX}" ${dry[@]+"${dry[@]}"} "$@"
}

# mesh_up LOAD_IMAGES [ISTIOCTL_ARG...]: what every cluster gets once it exists, the same steps
# for kind, minikube and the single-node cluster of scripts/local-up.sh: the workloads' images
# (LOAD_IMAGES: a function of the caller), Istio with its CNI agent (scripts/istio/mesh.yaml), the
# namespaces, every Secret the manifests name, then dist/ with its rollouts awaited.
mesh_up() {
  local load_images="$1"
  shift
  log "2/5 images"
  "${load_images}"
  log "3/5 Istio"
  install_istio "$@"
  log "4/5 namespaces and Secrets"
  run_deploy --namespaces-only
  create_secrets
  log "5/5 deploy dist/"
  run_deploy
}

random_value() { openssl rand -hex 24; }

# ensure_secret NAMESPACE NAME KEY=VALUE...: creates the Secret when absent, never overwrites.
# The values go to kubectl on stdin (--from-env-file=/dev/stdin), never on its command line
# where `ps` shows them; the printed command names the keys only.
ensure_secret() {
  local namespace="$1" name="$2" pair keys=()
  shift 2
  if probe kubectl --context "${KCTX}" -n "${namespace}" get secret "${name}"; then
    log "secret ${namespace}/${name} exists: kept"
    return 0
  fi
  for pair in "$@"; do keys+=("${pair%%=*}=<redacted>"); done
  show kubectl --context "${KCTX}" -n "${namespace}" create secret generic "${name}" \
    --from-env-file=/dev/stdin "(stdin: ${keys[*]})"
  if [[ "${DRY_RUN}" == "1" ]]; then return 0; fi
  printf '%s\n' "$@" |
    kubectl --context "${KCTX}" -n "${namespace}" create secret generic "${name}" \
      --from-env-file=/dev/stdin >/dev/null
}

# ensure_keycloak_admin: the bootstrap admin's Secret, created when absent: `username` and
# `password`, and the two again as the `keycloak.conf` Keycloak reads (KC_CONFIG_FILE), so they
# never enter its environment. The values reach kubectl on stdin and file descriptors (kubectl
# takes --from-file only, as --from-env-file cannot be combined with it), never its command line.
ensure_keycloak_admin() {
  local name=keycloak-bootstrap-admin password
  if probe kubectl --context "${KCTX}" -n auth get secret "${name}"; then
    if [[ "${DRY_RUN}" != "1" && -z "$(secret_value auth "${name}" keycloak.conf)" ]]; then
      die "secret auth/${name} has no key keycloak.conf (an older script made it): delete it (kubectl -n auth delete secret ${name}) and run this again"
    fi
    log "secret auth/${name} exists: kept"
    return 0
  fi
  local from=(--from-file=username=/dev/fd/3 --from-file=password=/dev/fd/4
    --from-file=keycloak.conf=/dev/stdin)
  show kubectl --context "${KCTX}" -n auth create secret generic "${name}" "${from[@]}" \
    "(fd 3: username=<redacted>, fd 4: password=<redacted>, stdin: keycloak.conf=<redacted>)"
  if [[ "${DRY_RUN}" == "1" ]]; then return 0; fi
  password="$(random_value)"
  printf 'bootstrap-admin-username=admin\nbootstrap-admin-password=%s\n' "${password}" |
    kubectl --context "${KCTX}" -n auth create secret generic "${name}" "${from[@]}" >/dev/null \
      3< <(printf '%s' admin) 4< <(printf '%s' "${password}")
}

# secret_value NAMESPACE NAME KEY: the decoded value, or nothing when absent.
secret_value() {
  if [[ "${DRY_RUN}" == "1" ]]; then return 0; fi
  kubectl --context "${KCTX}" -n "$1" get secret "$2" -o "jsonpath={.data.${3//./\\.}}" 2>/dev/null |
    base64 -d 2>/dev/null || true
}

# The gateway's TLS Secrets (credentialName in dist/gateway.yaml) and the host each serves.
GATEWAY_TLS="shop-example-com-tls=shop.example.com auth-shop-example-com-tls=auth.shop.example.com"

ensure_tls_secret() {
  local name="$1" host="$2" dir
  if probe kubectl --context "${KCTX}" -n istio-system get secret "${name}"; then
    log "secret istio-system/${name} exists: kept"
    return 0
  fi
  dir="$(mktemp -d)"
  run openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=${host}" \
    -addext "subjectAltName=DNS:${host}" -keyout "${dir}/tls.key" -out "${dir}/tls.crt"
  run kubectl --context "${KCTX}" -n istio-system create secret tls "${name}" \
    --cert="${dir}/tls.crt" --key="${dir}/tls.key"
  rm -rf "${dir}"
}

# create_secrets: every Secret the manifests reference (see policies/realm.ts), random values.
create_secrets() {
  local client_secret entry
  ensure_keycloak_admin
  ensure_secret auth keycloak-demo-users "alice-password=$(random_value)" \
    "admin-bob-password=$(random_value)"
  # The reconciler's client secret: one value in both namespaces (realm import and the job).
  client_secret="$(secret_value auth payment-reconciler-oauth client-secret)"
  [[ -n "${client_secret}" ]] || client_secret="$(secret_value shop payment-reconciler-oauth client-secret)"
  [[ -n "${client_secret}" ]] || client_secret="$(random_value)"
  ensure_secret auth payment-reconciler-oauth "client-secret=${client_secret}"
  ensure_secret shop payment-reconciler-oauth "client-secret=${client_secret}"
  for entry in ${GATEWAY_TLS}; do
    ensure_tls_secret "${entry%%=*}" "${entry#*=}"
  done
}
