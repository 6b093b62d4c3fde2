#!/usr/bin/env bash
# Fetches Debian 12's own kernel and builds the VM lane's initramfs (scripts/vm/run.sh
# calls it before each boot; it does nothing when the cache is current).
#
#   scripts/vm/prepare.sh            cache: $VM_CACHE, default .cache/vm in the checkout
#
# The kernel is the package linux-image-amd64 depends on (6.1 on Debian 12), fetched with
# `apt-get download` and unpacked into the cache: nothing is installed on the host, so no
# initramfs-tools or bootloader hook runs. Only the parts of the module tree a container
# VM loads are unpacked (~100 of ~400 MB). The initramfs is busybox plus the modules that
# reach the host's root over 9p and put an overlay on it (scripts/vm/init.sh is its /init).
set -euo pipefail

vm_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$vm_dir/../.." && pwd)
cache=${VM_CACHE:-$repo/.cache/vm}
mkdir -p -- "$cache"

die() { echo "vm-prepare: $*" >&2; exit 1; }

for tool in qemu-system-x86_64 xz dpkg-deb mkfs.ext4; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install qemu-system-x86 xz-utils e2fsprogs)"
done
/bin/busybox --list-full >/dev/null 2>&1 || die "/bin/busybox is not a static busybox (apt-get install busybox-static)"

# The metapackage names the kernel package of the day; resolve it from apt's lists.
kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1; }
pkg=$(kernel_package)
if [[ -z $pkg ]]; then
  apt-get update -qq >&2 || true
  pkg=$(kernel_package)
fi
if [[ -z $pkg ]]; then
  # Offline with no apt lists: boot what the cache holds, if anything.
  [[ -e $cache/current/ready ]] || die "cannot resolve linux-image-amd64 (apt-get update?) and nothing is cached in $cache"
  echo "vm-prepare: linux-image-amd64 unresolved; booting the cached $(readlink "$cache/current")" >&2
  exit 0
fi
kver=${pkg#linux-image-}
dest=$cache/$kver
work=$(mktemp -d "$cache/.work.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

if [[ ! -e $dest/ready ]]; then
echo "vm-prepare: fetching $pkg" >&2
(cd "$work" && apt-get download -q "$pkg" 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2; exit "${PIPESTATUS[0]}") || die "apt-get download $pkg failed"
deb=$(compgen -G "$work/${pkg}_*.deb" | head -n1) || true
[[ -n $deb ]] || die "apt-get download $pkg left no .deb"

rm -rf -- "$dest"
mkdir -p -- "$dest/tree"
mods=./lib/modules/$kver
keep=(
  "./boot/vmlinuz-$kver" "./boot/config-$kver"
  "$mods/modules.order" "$mods/modules.builtin" "$mods/modules.builtin.modinfo"
)
for sub in arch crypto lib mm block fs net virt drivers/virtio drivers/char drivers/block drivers/md drivers/vhost; do
  keep+=("$mods/kernel/$sub")
done
keep+=("$mods/kernel/drivers/net/*.ko" "$mods/kernel/drivers/net/ipvlan" "$mods/kernel/drivers/net/vxlan")
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest/tree" --wildcards --no-wildcards-match-slash "${keep[@]}"
/bin/busybox depmod -b "$dest/tree" "$kver"

# QEMU boots an ELF vmlinux with a PVH note directly: no firmware boot loader and no
# in-guest decompression, several seconds less per boot under TCG. The bzImage carries it
# as an xz stream; find the stream's magic and decompress from there.
bz=$dest/tree/boot/vmlinuz-$kver
at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -n1 | cut -d: -f1)
[[ -n $at ]] || die "no xz stream in $bz"
# xz stops at the end of its stream and tail may then die of SIGPIPE: not an error.
{ tail -c "+$((at + 1))" "$bz" || true; } | xz -dc --single-stream > "$dest/vmlinux"
[[ $(head -c 4 "$dest/vmlinux" | od -An -c | tr -d ' ') == '177ELF' ]] || die "the kernel extracted from $bz is not an ELF file"

rm -f -- "$deb"
touch "$dest/ready"
echo "vm-prepare: kernel $kver unpacked in $dest" >&2
fi

# Initramfs (rebuilt when init.sh changes): busybox, the modules for virtio-pci, 9p and
# overlayfs with their dependencies (modules.dep order: dependencies first), init.sh as /init.
if ! cmp -s -- "$vm_dir/init.sh" "$dest/init.sh" || [[ ! -e $dest/initrd.img ]]; then
ir=$work/initramfs
mkdir -p "$ir/bin" "$ir/modules" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/host" "$ir/rw" "$ir/root"
cp /bin/busybox "$ir/bin/busybox"
depfile=$dest/tree/lib/modules/$kver/modules.dep
declare -A listed=()
load_order=()
want_module() {
  local path deps d
  path=$(grep -m1 -E "(^|/)$1\.ko(\.[a-z]+)?:" "$depfile" | cut -d: -f1) || true
  [[ -n $path ]] || return 0 # built into the kernel
  [[ -z ${listed[$path]:-} ]] || return 0
  listed[$path]=1
  deps=$(grep -m1 -E "^$path:" "$depfile" | cut -d: -f2-)
  for d in $deps; do want_module "$(basename "${d%%.ko*}")"; done
  load_order+=("$path")
}
for m in virtio_pci 9pnet_virtio 9p overlay; do want_module "$m"; done
for path in "${load_order[@]}"; do
  cp "$dest/tree/lib/modules/$kver/$path" "$ir/modules/"
  basename "$path" >> "$ir/modules/load-order"
done
install -m 0755 "$vm_dir/init.sh" "$ir/init"
(cd "$ir" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$dest/initrd.img.new"
mv -f -- "$dest/initrd.img.new" "$dest/initrd.img"
cp -- "$vm_dir/init.sh" "$dest/init.sh"
fi
ln -sfn "$kver" "$cache/current"
