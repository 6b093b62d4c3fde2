#!/usr/bin/env bash
# The whole test command of CI (`npm run test:ci`; .ci/run runs it, README gives it):
#
#   1. the whole suite on this host (npm test);
#   2. in the VM lane (scripts/vm/run.sh: Debian 12's own 6.1 kernel, cgroup v2 alone),
#      every test file that touches cgroups, namespaces, mounts, rootless containers,
#      the clients (podman, containerd) and images, in two lanes: tsrt started from the
#      root cgroup, then from a service's leaf cgroup as systemd runs one (VM_CGROUP);
#      the files a placement can change run in both, the others once (lists below).
#
# Every lane runs even when one before it failed. The exit status is 1 if the host lane
# failed; a VM lane's failure (or its 30-minute limit) fails it too only with
# TSRT_CI_VM_GATE=1: the lane has not yet had one measured green end-to-end CI run
# (issue 14 stays open until it has; then the gate becomes the default).
# TSRT_CI_LANES="host vm-root vm-service" picks lanes (default: all three).
set -uo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

# Files that run under the VM's kernel and v2 layout (docs/vm-lane.md says why these).
# The placement (root cgroup or a service's leaf) changes where tsrt puts a container's
# cgroup and which controllers it must enable on the way: the files that look at cgroups,
# exec --cgroup, cleanup after failures, rootless and the engines (which run tsrt from a
# service) run in both lanes; the others run once, in the lane that keeps the two lanes'
# times even (a placement cannot change what they check: mounts, paths, namespaces, images).
VM_BOTH=(
  spec-tests/cgroups-v2.test.mjs
  spec-tests/cgroups.test.mjs
  spec-tests/exec.test.mjs
  spec-tests/failure-cleanup.test.mjs
  spec-tests/security-rootless.test.mjs
  spec-tests/clients-podman.test.mjs
  spec-tests/clients-containerd.test.mjs
)
VM_ROOT_ONLY=(
  spec-tests/lifecycle.test.mjs
  spec-tests/run.test.mjs
  spec-tests/namespaces.test.mjs
  spec-tests/userns.test.mjs
  spec-tests/security-paths.test.mjs
  spec-tests/attacks.test.mjs
)
VM_SERVICE_ONLY=(
  spec-tests/image.test.mjs
  spec-tests/image-layers.test.mjs
)
SERVICE_CGROUP=/system.slice/tsrt-ci.service

lanes=${TSRT_CI_LANES:-host vm-root vm-service}
failed=()
summary=()
lane() { # name, command...
  local name=$1 start=$SECONDS status
  shift
  echo "== test-ci: lane $name: $*"
  "$@"
  status=$?
  summary+=("$name: exit $status after $((SECONDS - start)) s")
  if ((status != 0)); then
    if [[ $name == vm-* && ${TSRT_CI_VM_GATE:-0} != 1 ]]; then advisory+=("$name"); else failed+=("$name"); fi
  fi
}
advisory=()
VM_LIMIT=${TSRT_CI_VM_LIMIT:-1800}

for l in $lanes; do
  case $l in
    host) lane host npm test ;;
    vm-root) lane vm-root timeout "$VM_LIMIT" npm run test:vm -- "${VM_BOTH[@]}" "${VM_ROOT_ONLY[@]}" ;;
    vm-service) lane vm-service env VM_CGROUP="$SERVICE_CGROUP" timeout "$VM_LIMIT" npm run test:vm -- "${VM_BOTH[@]}" "${VM_SERVICE_ONLY[@]}" ;;
    *) echo "test-ci: unknown lane $l (host, vm-root, vm-service)" >&2; exit 2 ;;
  esac
done
printf 'test-ci: %s\n' "${summary[@]}"
if ((${#advisory[@]})); then
  echo "test-ci: VM lanes that failed (advisory, TSRT_CI_VM_GATE=1 makes them fatal): ${advisory[*]}" >&2
fi
if ((${#failed[@]})); then
  echo "test-ci: failed lanes: ${failed[*]}" >&2
  exit 1
fi
