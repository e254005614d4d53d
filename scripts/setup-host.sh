#!/bin/sh
# Idempotent host setup on Debian: the packages the build, the reference
# images and the guest tests need. Safe to run again; does nothing when
# everything is present.
set -eu

PKGS="qemu-system-x86 qemu-utils debootstrap cpio zstd xz-utils busybox-static
socat cryptsetup-bin lvm2 thin-provisioning-tools dosfstools mtools fdisk gdisk openssl systemd
util-linux bsdextrautils python3-venv make
squashfs-tools erofs-utils e2fsprogs lzop lz4 gzip
device-tree-compiler systemd-boot-efi systemd-boot binutils argon2"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    echo "setup-host: installing$missing"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
