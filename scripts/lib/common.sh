#!/usr/bin/env bash
# Shared helpers for the cluster scripts (kind-up.sh, minikube-up.sh, deploy.sh, e2e-smoke.sh).
# Source it after setting DRY_RUN=0|1. Every command that changes or reads a cluster goes
# through `run` (changes) or `probe` (read-only checks), so --dry-run prints all of them.

# shellcheck disable=SC2034 # REPO_ROOT is used by the scripts that source this file
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DRY_RUN="${DRY_RUN:-0}"

log() { printf '[meshward] %s\n' "$*" >&2; }
die() {
  printf '[meshward] error: %s\n' "$*" >&2
  exit 1
}

# Prints a command in a copy-pasteable form.
show() {
  local out="+" arg
  for arg in "$@"; do out+=" $(printf '%q' "${arg}")"; done
  printf '%s\n' "${out}"
}

# Runs a command that changes something; with --dry-run only prints it.
run() {
  show "$@"
  if [[ "${DRY_RUN}" == "1" ]]; then return 0; fi
  "$@"
}

# Runs a read-only check; with --dry-run prints it and answers "no" (exit 1), so the dry run
# shows the commands a first run on an empty machine would execute.
probe() {
  if [[ "${DRY_RUN}" == "1" ]]; then
    show "$@"
    return 1
  fi
  "$@" >/dev/null 2>&1
}

# version_ge HAVE WANT: true when version HAVE >= WANT (dotted numbers).
version_ge() {
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]
}

# require_tool NAME MIN_VERSION VERSION_COMMAND...: fails fast when the tool is missing or older.
require_tool() {
  local name="$1" minimum="$2" output version
  shift 2
  if ! command -v "${name}" >/dev/null 2>&1; then
    die "'${name}' is not installed or not on PATH (need ${name} >= ${minimum})"
  fi
  output="$("$@" 2>/dev/null || true)"
  version="$(grep -Eo '[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"${output}" | head -n 1 || true)"
  if [[ -z "${version}" ]]; then
    die "cannot read the version of '${name}' from '$*' (need ${name} >= ${minimum})"
  fi
  if ! version_ge "${version}" "${minimum}"; then
    die "'${name}' ${version} is too old (need ${name} >= ${minimum})"
  fi
  log "${name} ${version} (>= ${minimum})"
}

# Minimum versions, in one place.
MIN_DOCKER=24.0
MIN_KIND=0.20.0
MIN_MINIKUBE=1.32.0
MIN_KUBECTL=1.28.0
MIN_ISTIOCTL=1.22.0
MIN_OPENSSL=1.1.1
MIN_CURL=7.68.0

require_docker() { require_tool docker "${MIN_DOCKER}" docker --version; }
require_kind() { require_tool kind "${MIN_KIND}" kind version; }
require_minikube() { require_tool minikube "${MIN_MINIKUBE}" minikube version --short; }
require_kubectl() { require_tool kubectl "${MIN_KUBECTL}" kubectl version --client; }
require_istioctl() { require_tool istioctl "${MIN_ISTIOCTL}" istioctl version --remote=false; }
require_openssl() { require_tool openssl "${MIN_OPENSSL}" openssl version; }
require_curl() { require_tool curl "${MIN_CURL}" curl --version; }
