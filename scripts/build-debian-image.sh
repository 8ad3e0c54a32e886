#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) cloud guest from Debian's packages alone: debootstrap from the
# mirror this machine's apt uses, with the distribution kernel, cloud-init, OpenSSH and
# SYSLINUX; a qcow2 of a few hundred MB that a user logs into with the SSH key Corral gives it
# (cloud-init's NoCloud datasource, docs/guests.md). Its default user is `debian`.
#
#   scripts/build-debian-image.sh [OUT]    (default: .corral/images/debian-12.qcow2)
#
# Built once per machine: the image is cached outside the clone, keyed by this script's
# content ($CORRAL_CACHE_DIR, default /var/cache/corral), so a fresh clone on the same
# machine only copies it. Nothing is mounted: the root filesystem is made from a folder
# (mkfs.ext4 -d), the boot volume with mtools, and both are written into a partitioned disk.
# Run as root (debootstrap makes device nodes and chowns).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
OUT="$(realpath -m "${1:-$ROOT/.corral/images/debian-12.qcow2}")"
CACHE_DIR="${CORRAL_CACHE_DIR:-/var/cache/corral}"
KEY="$(sha256sum "$0" | cut -c1-16)"
CACHED="$CACHE_DIR/debian-12-$KEY.qcow2"

if [ ! -f "$CACHED" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "build-debian-image: run as root (debootstrap needs it)" >&2; exit 1; }
  ensure_apt debootstrap syslinux syslinux-common mtools dosfstools e2fsprogs fdisk qemu-utils
  MIRROR="$(debian_mirror)"
  [ -n "$MIRROR" ] || { echo "build-debian-image: apt has no bookworm source to build from" >&2; exit 1; }
  say "building the Debian cloud guest (debootstrap bookworm, once per machine: a few minutes)"
  WORK="$(mktemp -d /tmp/corral-debian-vm.XXXXXX)"
  trap 'rm -rf "$WORK"' EXIT
  R="$WORK/rootfs"
  # ifupdown and a DHCP client: what cloud-init renders a network config to on Debian.
  # debootstrap does not resolve virtual packages: python3-cffi-backend is the one that
  # provides what python3-cryptography (cloud-init's) needs.
  debootstrap --variant=minbase \
    --include=linux-image-amd64,initramfs-tools,systemd-sysv,udev,cloud-init,python3-cffi-backend,openssh-server,sudo,ifupdown,isc-dhcp-client,iproute2,netbase,procps,less \
    bookworm "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    cp "$R/debootstrap/debootstrap.log" /tmp/corral-debian-image.debootstrap.log 2>/dev/null || true
    tail -30 "$WORK/debootstrap.log" >&2
    echo "build-debian-image: debootstrap failed (its log: /tmp/corral-debian-image.debootstrap.log)" >&2
    exit 1
  }

  UUID="$(cat /proc/sys/kernel/random/uuid)"
  printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$UUID" >"$R/etc/fstab"
  # Only the datasource Corral gives: no minutes spent probing clouds that are not there.
  printf 'datasource_list: [ NoCloud, None ]\n' >"$R/etc/cloud/cloud.cfg.d/90-corral.cfg"
  # The loopback; eth0 is cloud-init's to configure.
  printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' >"$R/etc/network/interfaces"
  # Every guest makes its own: host keys (cloud-init), machine id (systemd), hostname.
  rm -f "$R"/etc/ssh/ssh_host_* "$R/etc/hostname"
  : >"$R/etc/machine-id"
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/var/log/*.log
  kernel="$(ls "$R"/boot/vmlinuz-* | sort -V | tail -n 1)"
  initrd="$(ls "$R"/boot/initrd.img-* | sort -V | tail -n 1)"
  [ -f "$kernel" ] && [ -f "$initrd" ] || { echo "build-debian-image: no kernel or initrd in the root" >&2; exit 1; }

  # The disk: a 128 MiB FAT boot partition (SYSLINUX, the kernel, the initrd) and an ext4
  # root filling the rest of 3 GiB (a thin overlay at create; cloud images grow into it).
  boot_mib=128
  disk_mib=3072
  cat >"$WORK/syslinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT debian
TIMEOUT 1
LABEL debian
  LINUX vmlinuz
  INITRD initrd.img
  APPEND root=UUID=$UUID ro console=tty0 console=ttyS0,115200 net.ifnames=0 no_timer_check
CFG
  mkfs.vfat -n BOOT -h 2048 -C "$WORK/boot.img" $((boot_mib * 1024)) >/dev/null
  syslinux --install "$WORK/boot.img"
  mcopy -i "$WORK/boot.img" "$kernel" ::/vmlinuz
  mcopy -i "$WORK/boot.img" "$initrd" ::/initrd.img
  mcopy -i "$WORK/boot.img" "$WORK/syslinux.cfg" ::/syslinux.cfg
  root_mib=$((disk_mib - boot_mib - 2))
  mkfs.ext4 -q -L root -U "$UUID" -d "$R" "$WORK/root.img" "${root_mib}M"

  truncate -s "${disk_mib}M" "$WORK/disk.raw"
  printf 'label: dos\nstart=2048, size=%s, type=c, bootable\nstart=%s, type=83\n' \
    $((boot_mib * 2048)) $((2048 + boot_mib * 2048)) | sfdisk -q "$WORK/disk.raw"
  dd if="$WORK/boot.img" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc status=none
  dd if="$WORK/root.img" of="$WORK/disk.raw" bs=1M seek=$((1 + boot_mib)) conv=notrunc status=none
  dd if=/usr/lib/syslinux/mbr/mbr.bin of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none

  mkdir -p "$CACHE_DIR"
  qemu-img convert -q -c -O qcow2 "$WORK/disk.raw" "$CACHED.part"
  mv "$CACHED.part" "$CACHED"
  # Older builds of this image, from older versions of this script, are dead weight.
  find "$CACHE_DIR" -maxdepth 1 -name 'debian-12-*.qcow2' ! -name "$(basename "$CACHED")" -delete
fi

mkdir -p "$(dirname "$OUT")"
if [ ! -f "$OUT" ] || ! cmp -s "$CACHED" "$OUT"; then
  cp --reflink=auto "$CACHED" "$OUT.part"
  mv "$OUT.part" "$OUT"
fi
echo "build-debian-image: $OUT ($(du -h "$OUT" | cut -f1))"
