#!/bin/bash
# PID 1 of the VM lane's guest (scripts/vm/run.sh copies it into the run share, init.sh
# starts it). Mounts what a systemd-booted Debian 12 mounts, with cgroup2 alone at
# /sys/fs/cgroup, puts the scratch disk on /tmp, runs /run-share/command.sh (its output
# on the second serial port), writes its exit status to /run-share/status and powers off.
set +e
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
exec </dev/null >/dev/ttyS0 2>&1
. /run-share/settings

say() { echo "vm-guest: $*"; }

mkdir -p /dev/pts /dev/shm /dev/mqueue /dev/hugepages
mount -t devpts -o nosuid,noexec,newinstance,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
for link in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
  ln -sfn "${link#*:}" "/dev/${link%%:*}"
done
mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue
mount -t hugetlbfs -o nosuid,nodev hugetlbfs /dev/hugepages

# The guest kernel's modules: the host's /lib/modules has only the host kernel's, so the
# unpacked tree is bound in, and the kernel autoloads through busybox's modprobe if the
# host has no kmod.
mkdir -p "/lib/modules/$VM_KVER" && mount --bind "$VM_MODULES" "/lib/modules/$VM_KVER"
[ -x /sbin/modprobe ] || { mkdir -p /sbin && ln -sf /bin/busybox /sbin/modprobe; }
echo /sbin/modprobe > /proc/sys/kernel/modprobe
for m in virtio_blk ext4 $VM_MODPROBE; do /sbin/modprobe "$m" || say "modprobe $m failed"; done

# /tmp is the scratch disk (ext4 on virtio-blk: a real block device for io.max, user
# xattrs), nosuid,nodev like systemd's tmp.mount. A working directory under /tmp (a CI
# checkout there) stays visible: its top directory is bound back on top.
cwd_top=
case $VM_CWD in /tmp/?*) cwd_top=/tmp/$(echo "${VM_CWD#/tmp/}" | cut -d/ -f1) ;; esac
[ -n "$cwd_top" ] && mkdir -p /.cwd-top && mount --bind "$cwd_top" /.cwd-top
mount -t ext4 -o nosuid,nodev /dev/vda /tmp || { say "cannot mount the scratch disk on /tmp"; mount -t tmpfs -o nosuid,nodev tmp /tmp; }
chmod 1777 /tmp
[ -n "$cwd_top" ] && mkdir -p "$cwd_top" && mount --move /.cwd-top "$cwd_top"
# VM_INIT=systemd: from here on the host's systemd (PID 1) sets the guest up (guest-systemd.sh).
[ "${VM_INIT:-}" = systemd ] && exec /bin/bash /run-share/guest-systemd.sh
mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
mkdir -p /run/lock /run/user

# cgroup v2 alone (cgroup_no_v1=all on the command line), mounted as systemd does.
mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
mount -t bpf -o nosuid,nodev,noexec,mode=0700 bpf /sys/fs/bpf
mount -t securityfs -o nosuid,nodev,noexec securityfs /sys/kernel/security 2>/dev/null
mount -t debugfs -o nosuid,nodev,noexec debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs -o nosuid,nodev,noexec tracefs /sys/kernel/tracing 2>/dev/null

enable() { # cgroup dir, controllers...
  local dir=$1 c; shift
  for c in "$@"; do echo "+$c" > "$dir/cgroup.subtree_control" || say "cannot enable $c in $dir"; done
}
# Where the command runs. Default: the root cgroup, every controller enabled for its
# children. VM_CGROUP=/a/b.service: that leaf, with what systemd enables on the way (the
# root: cpu io memory pids; slices: cpu memory pids), so tsrt has to enable the rest
# (cpuset, hugetlb, rdma, misc) itself where it needs them.
cg=/sys/fs/cgroup
if [ -z "$VM_CGROUP" ]; then
  enable "$cg" $(cat "$cg/cgroup.controllers")
else
  enable "$cg" cpu io memory pids
  IFS=/ read -ra parts <<<"${VM_CGROUP#/}"
  for ((i = 0; i < ${#parts[@]}; i++)); do
    cg=$cg/${parts[i]}
    mkdir -p "$cg"
    ((i < ${#parts[@]} - 1)) && enable "$cg" cpu memory pids
  done
fi

hostname vm
ip link set lo up 2>/dev/null || /bin/busybox ip link set lo up
ln -sf /proc/self/mounts /etc/mtab
ulimit -n 1048576
say "ready at $(cut -d' ' -f1 /proc/uptime)s of uptime; command cgroup ${cg#/sys/fs/cgroup}"
: > /run-share/started

# The command: a session of its own in its cgroup, its output raw on ttyS1 (the host
# streams that file), a clean environment plus what run.sh passed in command.sh.
stty -F /dev/ttyS1 raw -echo 2>/dev/null
cd "$VM_CWD" 2>/dev/null || cd /
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb VM_LANE=1 \
  setsid /bin/bash -c 'echo $$ > "$0/cgroup.procs" && exec /bin/bash /run-share/command.sh' "$cg" </dev/null >/dev/ttyS1 2>&1 &
cmd=$!
# As PID 1 this shell also reaps every orphan (a container's processes end up here).
while :; do
  wait "$cmd"
  status=$?
  kill -0 "$cmd" 2>/dev/null || break
done
echo "$status" > /run-share/status
say "command exited $status at $(cut -d' ' -f1 /proc/uptime)s of uptime"
sync
umount /run-share
/bin/busybox poweroff -f
