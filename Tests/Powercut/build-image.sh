#!/bin/bash
# Builds the power-cut test's VM: a Debian 12 root filesystem (debootstrap minbase, Debian's
# kernel, the outbox .deb installed with dpkg/apt as an admin would) as a raw ext4 image, and
# the kernel and initrd QEMU boots directly. No network inside: everything the test runs is
# in the image (Tests/Powercut/guest/).
#
#   build-image.sh DEB OUTDIR    prints the directory holding rootfs.img, vmlinuz, initrd.img
#
# Cached under OUTDIR by a hash of the .deb and the guest scripts: a second run reuses it.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
DEB=$1
OUT=$2
KEY=$(cat "$DEB" Tests/Powercut/build-image.sh Tests/Powercut/guest/* | sha256sum | cut -c1-16)
IMAGE=$OUT/$KEY
if [ -f "$IMAGE/rootfs.img" ] && [ -f "$IMAGE/vmlinuz" ] && [ -f "$IMAGE/initrd.img" ]; then
    echo "$IMAGE"
    exit 0
fi
CACHE=/var/cache/outbox-pkgtest
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=$(mktemp -d /var/tmp/outbox-powercut-build.XXXXXX)
ROOT=$WORK/root
cleanup() {
    set +e
    for m in var/cache/apt/archives dev/pts dev proc; do mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
mkdir -p "$CACHE/debs" "$CACHE/apt" "$OUT"
debootstrap --variant=minbase --cache-dir="$CACHE/debs" bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
echo "Dir::Cache::Archives \"/var/cache/apt/archives\";" > "$ROOT/etc/apt/apt.conf.d/90cache"
mkdir -p "$ROOT/var/cache/apt/archives"
mount --bind "$CACHE/apt" "$ROOT/var/cache/apt/archives"
cp "$DEB" "$ROOT/tmp/outbox.deb"
in_root apt-get update -qq >"$WORK/apt.log" 2>&1 || { tail "$WORK/apt.log" >&2; exit 1; }
# The kernel with an initrd that has virtio_blk and ext4 (MODULES=dep would guess from
# the build machine).
mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
echo "MODULES=list" > "$ROOT/etc/initramfs-tools/conf.d/powercut"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$ROOT/etc/initramfs-tools/modules"
in_root apt-get install -y -q --no-install-recommends linux-image-amd64 /tmp/outbox.deb >>"$WORK/apt.log" 2>&1 \
    || { tail -30 "$WORK/apt.log" >&2; exit 1; }
umount "$ROOT/var/cache/apt/archives"
rm -f "$ROOT/etc/apt/apt.conf.d/90cache" "$ROOT/tmp/outbox.deb" "$ROOT/usr/sbin/policy-rc.d"
rm -rf "$ROOT/var/cache/apt/archives"/* "$ROOT/var/lib/apt/lists"/*
# The test's own parts, and outbox configured for a smarthost that refuses: mail stays.
mkdir -p "$ROOT/powercut"
cp Tests/Powercut/guest/* "$ROOT/powercut/"
chmod 755 "$ROOT/powercut"/*
cat > "$ROOT/etc/outbox/outbox.conf" <<CONF
smarthost = smtp://127.0.0.1:1
connect_timeout = 1s
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
domain = powercut.test
CONF
echo "/dev/vda / ext4 rw 0 1" > "$ROOT/etc/fstab"
cp "$ROOT"/boot/vmlinuz-* "$WORK/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$WORK/initrd.img"
for m in dev/pts dev proc; do umount "$ROOT/$m"; done
rm -rf "$ROOT/boot"/* "$ROOT/usr/share/doc"/* "$ROOT/usr/share/man"/* "$ROOT/usr/share/locale"/*
# Room for the queue that the cuts accumulate.
mkdir -p "$IMAGE.tmp"
truncate -s 3G "$IMAGE.tmp/rootfs.img"
mke2fs -q -t ext4 -d "$ROOT" -L powercut "$IMAGE.tmp/rootfs.img"
mv "$WORK/vmlinuz" "$WORK/initrd.img" "$IMAGE.tmp/"
rm -rf "$IMAGE"
mv "$IMAGE.tmp" "$IMAGE"
# Images of earlier builds are not used again: a few GiB each, sparse.
find "$OUT" -mindepth 1 -maxdepth 1 -type d ! -path "$IMAGE" -name '????????????????' -exec rm -rf {} +
echo "$IMAGE"
