#!/bin/bash
# The power-cut test (Tests/Powercut): builds the VM image from the project's .deb, then
# cuts the power POWERCUT_CUTS times at POWERCUT_LEVEL (a: the guest's page cache is lost;
# b, the default: the disk's unflushed writes too) and checks every acknowledged message.
#
#   powercut.sh     needs root, /dev/kvm, qemu-system-x86, debootstrap, e2fsprogs, python3 and
#                   Debian's mirror; builds the .deb (make package) when there is none
#
# Without /dev/kvm it prints one line and does nothing. Where KVM is present but cannot
# boot the guest (some nested hosts), the guest runs under software emulation, slower.
set -euo pipefail
cd "$(dirname "$0")/../.."
CUTS=${POWERCUT_CUTS:-200}
LEVEL=${POWERCUT_LEVEL:-b}
if [ ! -e /dev/kvm ]; then echo "powercut: skipped (no /dev/kvm on this machine)"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "powercut: skipped (needs root for debootstrap and chroot)"; exit 0; fi
for tool in qemu-system-x86_64 debootstrap mke2fs python3; do
    command -v $tool >/dev/null || { echo "powercut: $tool is missing (see .ci/run for the packages)" >&2; exit 1; }
done
VERSION=$(dpkg-parsechangelog -S Version)
DEB=.build/deb/outbox_${VERSION}_$(dpkg --print-architecture).deb
# The .deb of this tree: package-test (before this in make check) built it.
# (dpkg-buildpackage writes debian/files and the substvars after the .deb: not sources.)
if [ ! -f "$DEB" ] || [ -n "$(find Sources Package.swift etc man debian/rules debian/control debian/changelog debian/outbox.p* \
    -newer "$DEB" -print -quit)" ]; then
    echo "powercut: building the package (make package)"
    make package >/var/tmp/outbox-powercut-package.log 2>&1 || { tail -30 /var/tmp/outbox-powercut-package.log; exit 1; }
fi
START=$(date +%s)
IMAGE=$(bash Tests/Powercut/build-image.sh "$DEB" /var/tmp/outbox-powercut)
echo "powercut: VM image $IMAGE ($(($(date +%s) - START)) s)"
# First the harness itself: with a durability bug seeded (no FLUSH ever reaches the disk)
# it must report a loss, or its zeros below would prove nothing.
python3 Tests/Powercut/powercut.py "$IMAGE" --self-test
exec python3 Tests/Powercut/powercut.py "$IMAGE" --cuts "$CUTS" --level "$LEVEL" ${POWERCUT_SEED:+--seed "$POWERCUT_SEED"}
