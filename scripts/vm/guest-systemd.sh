#!/bin/bash
# VM_INIT=systemd: guest.sh execs this once it has the API file systems, the guest
# kernel's modules and the scratch disk on /tmp. It gets the guest ready for the host's
# own systemd (252) as PID 1 and execs it: an empty fstab, and a target of its own
# (tsrt-vm.target: basic.target, the D-Bus socket and the command's service, nothing of
# the host's multi-user.target). The service runs /run-share/command.sh as guest.sh does
# (output raw on ttyS1, a clean environment), writes its exit status to
# /run-share/status and powers the VM off. Its cgroup is /system.slice/tsrt-vm.service
# (delegated), so tests see the placement systemd gives a service.
set +e
. /run-share/settings
say() { echo "vm-guest-systemd: $*"; }
for f in /lib/systemd/systemd /usr/bin/dbus-daemon; do
  [ -x "$f" ] || { say "$f is missing on the host (apt-get install systemd dbus)"; /bin/busybox poweroff -f; }
done

# The host's fstab and enabled units are not the guest's business: an empty fstab (no
# device waits), and the timers and the host's services stay off (they are not in our
# target; the timers would be through basic.target). Off too, from sysinit.target: what
# sat on the boot's critical path under TCG for nothing here (systemd-analyze): the
# journal's flush to /var (a tmpfs overlay), utmp, the host's modules-load.d (guest.sh
# loaded what the tests need), a remount of / for an empty fstab, three modprobes.
: > /etc/fstab
# The host may be a container (/.dockerenv): the guest is a VM, and systemd should say so.
rm -f /.dockerenv
echo vm > /etc/hostname
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
  man-db.timer podman-auto-update.timer systemd-timesyncd.service systemd-pstore.service \
  getty@tty1.service serial-getty@ttyS0.service serial-getty@ttyS1.service console-getty.service \
  systemd-journal-flush.service systemd-update-utmp.service systemd-modules-load.service systemd-remount-fs.service \
  modprobe@dm_mod.service modprobe@fuse.service modprobe@loop.service sys-fs-fuse-connections.mount; do
  ln -sf /dev/null "/etc/systemd/system/$u"
done

units=/etc/systemd/system
cat > "$units/tsrt-vm.target" <<'EOF'
[Unit]
Description=tsrt VM lane: the test command under systemd
Requires=basic.target dbus.socket tsrt-vm.service
After=basic.target dbus.socket
AllowIsolate=yes
EOF

# The service: bash runs the command with its output on ttyS1, then records the status.
cat > /etc/systemd/tsrt-vm-command <<EOF
#!/bin/bash
: > /run-share/started
echo "vm-guest-systemd: command starts at \$(cut -d' ' -f1 /proc/uptime)s of uptime; systemd \$(systemctl is-system-running)" > /dev/ttyS0
stty -F /dev/ttyS1 raw -echo 2>/dev/null
cd $(printf %q "$VM_CWD") 2>/dev/null || cd /
/bin/bash /run-share/command.sh </dev/null >/dev/ttyS1 2>&1
status=\$?
echo "\$status" > /run-share/status
echo "vm-guest-systemd: command exited \$status at \$(cut -d' ' -f1 /proc/uptime)s of uptime" > /dev/ttyS0
sync
systemctl --no-block poweroff --force
EOF
chmod 0755 /etc/systemd/tsrt-vm-command
cat > "$units/tsrt-vm.service" <<'EOF'
[Unit]
Description=tsrt VM lane: the test command
After=basic.target dbus.socket
[Service]
Type=exec
ExecStart=/etc/systemd/tsrt-vm-command
Delegate=yes
KillMode=process
LimitNOFILE=1048576
StandardInput=null
StandardOutput=tty
TTYPath=/dev/ttyS0
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb VM_LANE=1 VM_INIT=systemd
EOF

say "handing over to systemd at $(cut -d' ' -f1 /proc/uptime)s of uptime"
exec /lib/systemd/systemd --unit=tsrt-vm.target --log-target=console --show-status=false
