#!/usr/bin/env bash
# Builds Corral's tiny guest: a ~10 MB qcow2 disk that boots under TCG in seconds to a root
# shell on the serial line and on the VGA console. Everything comes from Debian packages:
# the distribution kernel (downloaded, not installed), busybox-static for userland, and
# SYSLINUX on a FAT volume as the bootloader.
#
#   scripts/build-tiny-image.sh [OUT]    (default: .corral/images/tiny.qcow2)
#
# The guest: mounts proc, sys and devtmpfs; loads virtio, FAT and ACPI-button modules; mounts
# its boot disk (FAT, /dev/vda) read-write on /mnt; powers off when the ACPI power button is
# pressed; prints "corral-tiny: ready" on the serial line; runs shells on ttyS0 and tty1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Absolute, since the build runs in a scratch directory.
OUT="$(realpath -m "${1:-$ROOT/.corral/images/tiny.qcow2}")"
if [ -f "$OUT" ] && [ "$OUT" -nt "$0" ]; then
  exit 0 # built already, by this version of the script
fi
for tool in busybox syslinux mcopy mkfs.vfat qemu-img; do
  command -v "$tool" >/dev/null || { echo "build-tiny-image: $tool missing (packages busybox-static syslinux mtools dosfstools qemu-utils)" >&2; exit 1; }
done

WORK="$(mktemp -d /tmp/corral-tiny.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# The kernel of Debian's current linux-image-amd64, unpacked here (never installed).
kpkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
[ -n "$kpkg" ] || { echo "build-tiny-image: cannot tell which kernel linux-image-amd64 is" >&2; exit 1; }
apt-get download "$kpkg" >/dev/null 2>&1
dpkg-deb -x ./"$kpkg"_*.deb kernel
kver="$(ls kernel/lib/modules | head -n 1)"
moddir="kernel/lib/modules/$kver"
# The package ships no modules.dep (depmod makes it on install): make it here.
busybox depmod -b kernel "$kver"

# The initramfs: busybox and its applets, the modules we need in load order, /init.
mkdir -p initrd/{bin,sbin,etc,proc,sys,dev,mnt,tmp,root,lib/modules}
cp "$(command -v busybox)" initrd/bin/busybox
for applet in $(initrd/bin/busybox --list); do
  [ -e "initrd/bin/$applet" ] || ln -s busybox "initrd/bin/$applet"
done

# Resolves a module's dependencies from modules.dep, deepest first, each once.
declare -A seen=()
order=()
add_module() {
  local name="$1" path deps
  path="$(grep -E "(^|/)$name\.ko:" "$moddir/modules.dep" | head -n 1 | cut -d: -f1)"
  [ -n "$path" ] || return 0 # built into the kernel
  [ -n "${seen[$path]:-}" ] && return 0
  seen[$path]=1
  deps="$(grep -E "^$path:" "$moddir/modules.dep" | cut -d: -f2)"
  for d in $deps; do add_module "$(basename "$d" .ko)"; done
  order+=("$path")
}
for m in virtio_pci virtio_blk virtio_net fat vfat nls_cp437 nls_ascii nls_utf8 button evdev; do
  add_module "$m"
done
for path in "${order[@]}"; do
  cp "$moddir/$path" initrd/lib/modules/
  basename "$path" >> initrd/lib/modules/load-order
done

cat > initrd/init <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin PS1='corral-tiny:$PWD# ' HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/load-order); do insmod /lib/modules/$m 2>/dev/null; done
hostname corral-tiny
sleep 0.2
mount -t vfat -o rw /dev/vda /mnt 2>/dev/null
ip link set lo up
# QEMU's user-mode network always hands out the same address: set it without a DHCP round.
# The NIC appears a moment after its module loads.
for _ in $(seq 30); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
if ip link set eth0 up 2>/dev/null; then
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
fi
# The ACPI power button (QMP system_powerdown) powers off: wait for its first input event.
pwr=$(awk '/Name="Power Button"/ {f=1} f && /Handlers=/ {for (i = 1; i <= NF; i++) if ($i ~ /^event/) {print $i; exit}}' /proc/bus/input/devices)
[ -n "$pwr" ] && (dd if=/dev/input/$pwr bs=24 count=1 >/dev/null 2>&1; sync; poweroff -f) &
cat > /dev/tty1 <<BANNER

   ====================================
        Corral tiny guest is up
   ====================================
   kernel $(uname -r), busybox shell below

BANNER
echo "corral-tiny: ready" > /dev/ttyS0
# A shell on each console, started again whenever one exits.
for tty in ttyS0 tty1; do
  (while true; do setsid sh -c "exec sh -i </dev/$tty >/dev/$tty 2>&1"; sleep 0.5; done) &
done
while true; do sleep 3600; done
INIT
chmod +x initrd/init
(cd initrd && find . | busybox cpio -o -H newc 2>/dev/null | gzip -9) > initrd.gz

# The boot volume: FAT with SYSLINUX, the kernel and the initramfs; no partition table.
truncate -s 32M disk.raw
mkfs.vfat -n CORRAL disk.raw >/dev/null
syslinux --install disk.raw
cat > syslinux.cfg <<'CFG'
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=tty1 console=ttyS0,115200 quiet no_timer_check vga=0x318 panic=5
CFG
mcopy -i disk.raw kernel/boot/vmlinuz-"$kver" ::/vmlinuz
mcopy -i disk.raw initrd.gz ::/initrd.gz
mcopy -i disk.raw syslinux.cfg ::/syslinux.cfg

mkdir -p "$(dirname "$OUT")"
qemu-img convert -q -f raw -O qcow2 disk.raw "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "built $OUT ($(du -h "$OUT" | cut -f1), kernel $kver)"
