#!/bin/sh
# Idempotent host setup on Debian: the packages the build, the reference
# images and the guest tests need. Safe to run again; does nothing when
# everything is present.
set -eu

# ser2net: labgrid's exporter serves serial ports with it (tests/guest/test_guest_farm.py).
# gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf, qemu-system-misc: the bare-metal
# firmware (images/baremetal.py) and qemu-system-riscv32 that runs it (tests/baremetal/).
PKGS="qemu-system-x86 qemu-utils debootstrap cpio zstd xz-utils busybox-static
socat cryptsetup-bin lvm2 thin-provisioning-tools dosfstools mtools fdisk gdisk openssl systemd
util-linux bsdextrautils python3-venv make
squashfs-tools erofs-utils e2fsprogs lzop lz4 gzip
device-tree-compiler systemd-boot-efi systemd-boot binutils argon2
ser2net
gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"

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
