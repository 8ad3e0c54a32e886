#!/usr/bin/env bash
# Builds Corral's busybox zone image offline: a small root filesystem of busybox-static,
# packed as a zone image (metadata.yaml and rootfs/, gzip), which any lxc node can import.
#
#   scripts/build-zone-image.sh [OUT]    (default: .corral/images/busybox.tar.gz)
#
# The zone: busybox init runs /etc/init.d/rcS (mounts, loopback; no DHCP, which would block
# boot where there is no network; the hostname is the zone's name, set by LXC) and says
# "corral-zone: ready" on the console;
# a root shell runs on the console. It powers off on SIGUSR2, as busybox init does.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/.corral/images/busybox.tar.gz}")"
if [ -f "$OUT" ] && [ "$OUT" -nt "$0" ]; then
  exit 0 # built already, by this version of the script
fi
command -v busybox >/dev/null || { echo "build-zone-image: busybox missing (package busybox-static)" >&2; exit 1; }
# Whole outputs are captured, never cut short by `head` or `grep -q`: under pipefail the
# writer's SIGPIPE would fail the script.
case "$(file -L "$(command -v busybox)" 2>/dev/null)" in
  *"statically linked"*) ;;
  *) echo "build-zone-image: $(command -v busybox) is not static (package busybox-static)" >&2; exit 1 ;;
esac

WORK="$(mktemp -d /tmp/corral-zone.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
R="$WORK/rootfs"
mkdir -p "$R"/{bin,sbin,etc/init.d,proc,sys,dev,tmp,root,run,var/log,usr/bin,usr/sbin,mnt}
chmod 1777 "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list-full); do
  [ -e "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done

cat >"$R/etc/inittab" <<'INITTAB'
::sysinit:/etc/init.d/rcS
console::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
INITTAB
cat >"$R/etc/init.d/rcS" <<'RCS'
#!/bin/sh
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t tmpfs tmpfs /run 2>/dev/null
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm 2>/dev/null
ip link set lo up
echo "corral-zone: ready"
RCS
chmod 755 "$R/etc/init.d/rcS"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
printf 'export PS1="\\h:\\w# "\n' >"$R/etc/profile"

banner="$("$R/bin/busybox" 2>&1 || true)"
version="$(printf '%s\n' "$banner" | awk 'NR == 1 { sub(/^v/, "", $2); print $2 }')"
cat >"$WORK/metadata.yaml" <<META
architecture: x86_64
creation_date: $(date +%s)
properties:
  os: busybox
  release: "$version"
  description: "BusyBox $version, built by Corral's scripts/build-zone-image.sh"
  init: busybox
META

mkdir -p "$(dirname "$OUT")"
tar --numeric-owner --owner=0 --group=0 -C "$WORK" -czf "$OUT.part" metadata.yaml rootfs
mv "$OUT.part" "$OUT"
echo "build-zone-image: $OUT ($(du -h "$OUT" | cut -f1))"
