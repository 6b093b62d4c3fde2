#!/usr/bin/env bash
# Builds a minimal root filesystem for the demo bundle and the tests from Debian's
# statically linked busybox (package busybox-static).
#
#   scripts/make-rootfs.sh [TARGET_DIR]
#
# TARGET_DIR defaults to bundle/rootfs in the repository, whatever the current
# directory. Re-running it removes the old tree and builds a fresh one.
set -euo pipefail

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
target=${1:-$repo_root/bundle/rootfs}
busybox=/bin/busybox

die() { echo "make-rootfs: $*" >&2; exit 1; }

if [[ ! -x $busybox ]]; then
  die "$busybox not found: install Debian's static busybox first (apt-get install busybox-static)"
fi
# A dynamically linked busybox (package "busybox") would need the host's libc inside
# the rootfs; only the static build works on its own.
if ! "$busybox" --list-full >/dev/null 2>&1; then
  die "$busybox does not run or has no --list-full: install busybox-static (apt-get install busybox-static)"
fi

[[ -n $target ]] || die "empty target directory"
mkdir -p -- "$target"
target=$(cd -- "$target" && pwd -P)
[[ $target != / ]] || die "refusing to use / as the target directory"

# Something mounted below the target (e.g. left behind by a crashed container) would
# make "rm -rf" reach into another file system: refuse instead.
if awk -v t="$target/" 'index($5 "/", t) == 1 && $5 "/" != t { found = 1 } END { exit !found }' \
  /proc/self/mountinfo; then
  die "something is mounted below $target; unmount it first (see /proc/self/mountinfo)"
fi

# Start from an empty directory (keep the directory itself: it may be a mount point).
find "$target" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} +

cd -- "$target"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp root home/user var/tmp run
chmod 0755 . bin sbin usr usr/bin usr/sbin etc dev home var run
chmod 0555 proc sys
chmod 1777 tmp var/tmp
chmod 0700 root

install -m 0755 "$busybox" bin/busybox

# One symlink per applet, relative so that it resolves both inside the container
# and when the tree is inspected from the host.
while IFS= read -r applet; do
  applet=${applet#/}
  [[ -n $applet && $applet != bin/busybox ]] || continue
  dir=${applet%/*}
  case $dir in
    "$applet") rel=bin/busybox ;;
    bin) rel=busybox ;;
    sbin) rel=../bin/busybox ;;
    usr/bin | usr/sbin) rel=../../bin/busybox ;;
    *) die "unexpected applet path from busybox --list-full: $applet" ;;
  esac
  ln -sfn "$rel" "$applet"
done < <("$busybox" --list-full)

[[ -L bin/sh ]] || ln -sfn busybox bin/sh

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
EOF
chmod 0644 etc/passwd etc/group

if [[ $(id -u) == 0 ]]; then
  chown 1000:1000 home/user
fi

echo "make-rootfs: $target ready ($("$busybox" --list-full | wc -l) busybox applets)"
