#!/bin/busybox sh
# /init of the VM lane's initramfs (scripts/vm/prepare.sh puts it there). Loads the
# modules for virtio-pci, 9p and overlayfs, makes the new root from the host's / (9p tag
# "host", read-only) with a tmpfs over it for writes, mounts the run's own share (9p tag
# "run") at /run-share and hands over to /run-share/guest.sh, which scripts/vm/run.sh
# copies there for every boot.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev

halt() {
  echo "vm-init: $*" > /dev/ttyS0
  poweroff -f
}

while read -r m; do
  insmod "/modules/$m" || halt "insmod $m failed"
done < /modules/load-order

# Kernel command line: vm.upper=SIZE of the tmpfs that takes the writes.
upper=70%
for arg in $(cat /proc/cmdline); do
  case $arg in vm.upper=*) upper=${arg#vm.upper=} ;; esac
done

p9=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$p9,ro,cache=loose" host /host || halt "cannot mount the host's root (9p tag host)"
mount -t tmpfs -o "mode=0755,size=$upper" upper /rw || halt "cannot mount the tmpfs for writes"
mkdir -p /rw/data /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/data,workdir=/rw/work root /root || halt "cannot mount the overlay root"
mkdir -p /root/run-share
# No cache: the host reads the exit status from this share as soon as the VM is off.
mount -t 9p -o "$p9,cache=none" run /root/run-share || halt "cannot mount the run share (9p tag run)"
[ -f /root/run-share/guest.sh ] || halt "the run share has no guest.sh"
umount /proc
umount /dev || umount -l /dev
exec switch_root /root /bin/bash /run-share/guest.sh
