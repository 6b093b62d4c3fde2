#!/usr/bin/env bash
# Runs one command as root in a throw-away QEMU VM booting Debian 12's own kernel (6.1)
# with cgroup v2 alone, streams its output and exits with its exit status.
#
#   scripts/vm/run.sh 'shell command'      or      scripts/vm/run.sh PROGRAM ARG...
#
# The guest's / is the host's / (9p, read-only) under a tmpfs overlay: node, npm, this
# checkout and Debian's packages are the host's, and nothing the command writes reaches
# the host. /tmp is a fresh ext4 disk (virtio-blk). The command runs in the current
# directory, with the guest's PATH, HOME=/root, and the variables VM_PASSENV names.
# Exit status: the command's; 124 when VM_TIMEOUT ran out; 125 when the VM failed.
#
# Environment (docs/vm-lane.md):
#   VM_CGROUP=/system.slice/x.service   run the command in that leaf cgroup, as systemd
#                                       runs a service (default: the root cgroup)
#   VM_INIT=systemd   boot the host's systemd as PID 1 and run the command as its service
#                     tsrt-vm.service (guest-systemd.sh); VM_CGROUP does not apply then;
#                     VM_SYSTEMD_CGROUP=hybrid: systemd's hybrid cgroup layout (v1 + v2)
#   VM_MEM=2G VM_CPUS=2 VM_DISK=4G VM_TIMEOUT=3600 (seconds) VM_ACCEL=auto|tcg|kvm
#   VM_PASSENV="CI TSRT_X"   host variables the command gets (default: CI)
#   VM_CACHE=DIR   kernel and initramfs (default .cache/vm in the checkout)
#   VM_KEEP=1      keep the run directory (console log, command output)
set -uo pipefail

vm_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$vm_dir/../.." && pwd)
export VM_CACHE=${VM_CACHE:-$repo/.cache/vm}
(($#)) || { echo "usage: scripts/vm/run.sh COMMAND [ARG...]" >&2; exit 2; }
note() { echo "vm: $*" >&2; }

"$vm_dir/prepare.sh" || { note "prepare.sh failed"; exit 125; }
kernel=$(readlink -f -- "$VM_CACHE/current")
kver=$(basename -- "$kernel")

# A /dev/kvm alone is not enough: where the CPU shows no vmx/svm it can be a paravirtual
# KVM (kvm_pvm) that cannot run a stock kernel. TCG then.
accel=${VM_ACCEL:-auto}
if [[ $accel == auto ]]; then
  accel=tcg
  [[ -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo && accel=kvm
fi
case $accel in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
  *) note "VM_ACCEL=$accel: expected auto, tcg or kvm"; exit 2 ;;
esac

run=$(mktemp -d "${TMPDIR:-/tmp}/tsrt-vm.XXXXXX")
share=$run/share
mkdir -p "$share"
qemu_pid= tail_pid=
finish() {
  [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null
  [[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null
  if [[ -n ${VM_KEEP:-} ]]; then note "run directory kept: $run"; else rm -rf -- "$run"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

cp -- "$vm_dir/guest.sh" "$share/guest.sh"
cp -- "$vm_dir/guest-systemd.sh" "$share/guest-systemd.sh"
{
  printf 'VM_KVER=%q\n' "$kver"
  printf 'VM_MODULES=%q\n' "$kernel/tree/lib/modules/$kver"
  printf 'VM_CWD=%q\n' "$PWD"
  printf 'VM_CGROUP=%q\n' "${VM_CGROUP:-}"
  printf 'VM_INIT=%q\n' "${VM_INIT:-}"
  # Loaded up front: what containers, podman and containerd ask the kernel for.
  printf 'VM_MODPROBE=%q\n' "overlay veth bridge br_netfilter tun dummy nf_tables nft_chain_nat nft_compat xt_conntrack xt_MASQUERADE iptable_nat iptable_filter ip6table_filter unix_diag inet_diag netlink_diag"
} > "$share/settings"
{
  echo 'exec 2>&1'
  for name in ${VM_PASSENV-CI}; do
    [[ -n ${!name+set} ]] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  if (($# == 1)); then printf '%s\n' "$1"; else printf '%q ' "$@"; echo; fi
} > "$share/command.sh"

cmdline="console=ttyS0 panic=-1 quiet loglevel=4 cgroup_no_v1=all mitigations=off 8250.nr_uarts=2"
cmdline+=" i8042.noaux i8042.nomux i8042.nopnp random.trust_cpu=on vm.upper=70%"
# Under TCG the kernel distrusts the TSC and reads the HPET instead, each read an emulated
# MMIO access; the emulated TSC is monotonic, so trust it. On a busy host the emulated
# CPUs are slow enough for the boot's IO-APIC timer check to fail and panic: skip it.
[[ $accel == tcg ]] && cmdline+=" clocksource=tsc tsc=reliable no_timer_check"
# VM_INIT=systemd: systemd as PID 1 (guest-systemd.sh), on the unified hierarchy alone;
# with VM_SYSTEMD_CGROUP=hybrid, systemd's hybrid layout instead (v1 controllers, cgroup2
# at /sys/fs/cgroup/unified), the layout of this project's own machines.
if [[ ${VM_INIT:-} == systemd && ${VM_SYSTEMD_CGROUP:-} == hybrid ]]; then
  cmdline=${cmdline/ cgroup_no_v1=all/}
  cmdline+=" systemd.unified_cgroup_hierarchy=0"
elif [[ ${VM_INIT:-} == systemd ]]; then
  cmdline+=" systemd.unified_cgroup_hierarchy=1"
fi

boot() {
  # The scratch disk: sparse, so only what the tests write takes host space.
  rm -f -- "$run/disk.img"
  truncate -s "${VM_DISK:-4G}" "$run/disk.img"
  mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$run/disk.img" || { note "mkfs.ext4 failed"; return 125; }
  : > "$run/output"
  timeout --foreground -k 10 "${VM_TIMEOUT:-3600}" qemu-system-x86_64 -M pc "${accel_args[@]}" \
    -smp "${VM_CPUS:-2}" -m "${VM_MEM:-2G}" -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$kernel/vmlinux" -initrd "$kernel/initrd.img" -append "$cmdline" \
    -chardev file,id=console,path="$run/console" -serial chardev:console \
    -chardev file,id=output,path="$run/output" -serial chardev:output \
    -fsdev local,id=host,path=/,security_model=passthrough,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=host,mount_tag=host \
    -fsdev local,id=run,path="$share",security_model=passthrough,multidevs=remap \
    -device virtio-9p-pci,fsdev=run,mount_tag=run \
    -drive file="$run/disk.img",format=raw,if=virtio,cache=unsafe,discard=unmap \
    -device virtio-rng-pci \
    </dev/null >"$run/qemu.log" 2>&1 &
  qemu_pid=$!
  tail -n +1 -s 0.2 -f --pid="$qemu_pid" "$run/output" &
  tail_pid=$!
  wait "$qemu_pid"
  local status=$?
  qemu_pid=
  wait "$tail_pid" 2>/dev/null
  tail_pid=
  return "$status"
}

started=$SECONDS
boot
qemu_status=$?
# A guest that died before it started the command (a kernel panic at boot) is booted
# once more; a command that ran is never run twice.
if [[ ! -e $share/started && ! -e $share/status && $qemu_status != 124 ]]; then
  note "the VM stopped before the command started; booting again. Its console's end:"
  tail -n 15 "$run/console" >&2
  boot
  qemu_status=$?
fi

if [[ -f $share/status ]]; then
  status=$(<"$share/status")
  where="cgroup ${VM_CGROUP:-/}"
  [[ ${VM_INIT:-} == systemd ]] && where="systemd as PID 1${VM_SYSTEMD_CGROUP:+ ($VM_SYSTEMD_CGROUP)}, cgroup /system.slice/tsrt-vm.service"
  note "$accel, ${VM_CPUS:-2} cpus, ${VM_MEM:-2G}, $where: exit $status after $((SECONDS - started)) s"
  exit "$status"
fi
if ((qemu_status == 124)); then
  note "VM_TIMEOUT=${VM_TIMEOUT:-3600} s ran out"
  status=124
else
  note "the VM stopped (qemu exit $qemu_status) before the command's exit status was written"
  status=125
fi
tail -n 30 "$run/console" >&2
cat "$run/qemu.log" >&2
exit "$status"
