#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) zone image with debootstrap, from the Debian mirror this
# machine's apt is configured with, once: a second run finds it built and does nothing.
#
#   scripts/build-debian-zone-image.sh [OUT]    (default: .corral/images/debian-12.tar.gz)
#
# The zone boots systemd (halted with SIGRTMIN+3, as the image's `init: systemd` tells the
# bridge). Its console logs root in (whoever may open a zone's console may also open a shell
# in it), and systemd-networkd takes an address by DHCP on eth0 when the zone is on a host
# bridge (a zone with only loopback just has none). About a minute and 45 MB of downloads;
# run as root (debootstrap makes device nodes and chowns). Import the result as any zone
# image: Images → Import, or `POST /api/v1/images` with its path under an --import-dir.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/lib.sh"
OUT="$(realpath -m "${1:-$ROOT/.corral/images/debian-12.tar.gz}")"
if [ -f "$OUT" ] && [ "$OUT" -nt "$0" ]; then
  echo "build-debian-zone-image: $OUT is built already"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-debian-zone-image: run as root (debootstrap needs it)" >&2; exit 1; }
ensure_apt debootstrap

MIRROR="$(debian_mirror)"
[ -n "$MIRROR" ] || { echo "build-debian-zone-image: apt has no bookworm source to build from" >&2; exit 1; }
say "debootstrap bookworm (minbase) from $MIRROR"

WORK="$(mktemp -d /tmp/corral-debian-zone.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
R="$WORK/rootfs"
debootstrap --variant=minbase --include=systemd-sysv,iproute2,iputils-ping,procps,less \
  bookworm "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }

# Root on the console without a password (the console is for operators and owners only).
mkdir -p "$R/etc/systemd/system/console-getty.service.d"
cat >"$R/etc/systemd/system/console-getty.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud console 115200,38400,9600 $TERM
UNIT
# DHCP on eth0 when there is one; nothing waits for it.
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n' >"$R/etc/systemd/network/eth0.network"
ln -sf /lib/systemd/system/systemd-networkd.service \
  "$R/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
# LXC gives a zone its own /dev, and nodes refuse images holding device nodes.
rm -rf "${R:?}"/dev/*
find "$R" \( -type b -o -type c \) -delete
# The hostname is the zone's name (LXC sets it); the package caches are downloads only.
rm -f "$R/etc/hostname"
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*
: >"$R/etc/machine-id"

cat >"$WORK/metadata.yaml" <<META
architecture: x86_64
creation_date: $(date +%s)
properties:
  os: debian
  release: "12"
  description: "Debian 12 (bookworm) minbase with systemd, built by Corral's scripts/build-debian-zone-image.sh"
  init: systemd
META

mkdir -p "$(dirname "$OUT")"
tar --numeric-owner --xattrs -C "$WORK" -czf "$OUT.part" metadata.yaml rootfs
mv "$OUT.part" "$OUT"
echo "build-debian-zone-image: $OUT ($(du -h "$OUT" | cut -f1))"
