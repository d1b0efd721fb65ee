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

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local pgid
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
trap cleanup EXIT INT TERM

tests_started=${SECONDS}
status=0
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci \
  --config test/integration/jest.config.js "$@" || status=$?
echo "[integration] tests took $((SECONDS - tests_started))s, tier total $((SECONDS - started))s" >&2
exit "${status}"
