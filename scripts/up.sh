#!/usr/bin/env bash
# Brings the whole console up on this machine: installs what is missing, builds, starts one
# local node bridge that runs VMs (qemu, with the tiny guest image imported) and, as root,
# zones (lxc, with the busybox zone image imported), and the backend on 127.0.0.1, and prints
# the URL and the admin login.
# Run it again at any time: it rebuilds what changed and restarts both processes. Guests and
# zones keep running across a restart: the new bridge adopts them.
#
#   CORRAL_PORT=8080 (default)   the port to listen on
#   CORRAL_ACCEL=auto (default)  the local node's accelerator: auto, kvm or tcg
#   CORRAL_DEBIAN=1              also build (once per machine) and import the Debian 12 cloud
#                                guest, debian-12.qcow2, to log into over SSH with your key
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PORT="${CORRAL_PORT:-8080}"
STATE="$ROOT/.corral"
RUN="$STATE/run"
LOGS="$STATE/logs"
# A VM's sockets live under the node's data dir, and unix socket paths are limited to 107
# bytes: a deep checkout keeps its VMs under the home directory instead.
NODE_DATA="$STATE/node-local"
if [ "${#NODE_DATA}" -gt 45 ]; then
  NODE_DATA="$HOME/.local/share/corral/node-local"
fi
mkdir -p "$RUN" "$LOGS" "$STATE/data" "$NODE_DATA"

ensure_apt curl
ensure_qemu
ensure_rust
ensure_npm
build_tiny_image
# Zones are privileged LXC containers: only a root bridge runs them.
DRIVERS=qemu
if [ "$(id -u)" -eq 0 ]; then
  ensure_lxc
  build_zone_image
  ensure_zone_btrfs "$NODE_DATA"
  DRIVERS=qemu,lxc
else
  say "not root: the local node runs VMs only (zones need root)"
fi
# CORRAL_DEBIAN=1: the Debian cloud guest too (built once per machine, a few minutes), for
# machines a user logs into over SSH with their key.
if [ "${CORRAL_DEBIAN:-0}" = 1 ]; then
  build_debian_image
fi
build_frontend
build_native

stop() { # stop <name>: ends a process we started before, if it still runs.
  local pidfile="$RUN/$1.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}
stop backend
stop bridge

say "starting the local node bridge"
# The node takes path imports only from the directory the images are built in.
setsid "$ROOT/target/debug/corral-bridge" --socket "$RUN/bridge.sock" --data-dir "$NODE_DATA" \
  --driver "$DRIVERS" --accel "${CORRAL_ACCEL:-auto}" --import-dir "$(dirname "$TINY_IMAGE")" \
  >>"$LOGS/bridge.log" 2>&1 < /dev/null &
echo $! > "$RUN/bridge.pid"
bridge() { curl -fsS --unix-socket "$RUN/bridge.sock" "http://bridge$1" "${@:2}"; }
for _ in $(seq 100); do bridge /v1/version >/dev/null 2>&1 && break; sleep 0.1; done
bridge /v1/version >/dev/null || { echo "the bridge did not start; see $LOGS/bridge.log" >&2; exit 1; }
import_image() { # import_image <name> <path>: into the local node, once.
  bridge "/v1/images/$1" >/dev/null 2>&1 && return 0
  say "importing $1 into the local node"
  bridge /v1/images -X POST -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"source\":\"$2\"}" >/dev/null
  # The import runs as a task; a few MB take a moment, the Debian guest's hundreds longer.
  for _ in $(seq 1200); do bridge "/v1/images/$1" >/dev/null 2>&1 && break; sleep 0.1; done
  bridge "/v1/images/$1" >/dev/null || { echo "importing $1 failed; see $LOGS/bridge.log" >&2; exit 1; }
}
import_image tiny.qcow2 "$TINY_IMAGE"
if [ "$DRIVERS" = qemu,lxc ]; then
  import_image busybox.tar.gz "$ZONE_IMAGE"
fi
if [ "${CORRAL_DEBIAN:-0}" = 1 ]; then
  import_image debian-12.qcow2 "$DEBIAN_IMAGE"
fi

first_login="$("$ROOT/target/debug/corral" init --data-dir "$STATE/data" 2>>"$LOGS/backend.log")"

say "starting the backend"
setsid "$ROOT/target/debug/corral" serve --data-dir "$STATE/data" --listen "127.0.0.1:$PORT" \
  --frontend-dir "$ROOT/frontend/dist" --node "local=unix:$RUN/bridge.sock" \
  >>"$LOGS/backend.log" 2>&1 < /dev/null &
echo $! > "$RUN/backend.pid"

for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$RUN/backend.pid")" 2>/dev/null || { echo "the backend exited; see $LOGS/backend.log" >&2; tail -n 20 "$LOGS/backend.log" >&2; exit 1; }
  sleep 0.1
done

echo
echo "  Corral is up:  http://127.0.0.1:$PORT"
case "$first_login" in
  "admin password: "*)
    echo "  Log in as:     admin / ${first_login#admin password: }"
    echo "                 (shown once; keep it somewhere safe)";;
  *)
    echo "  Log in as:     admin, with the password printed the first time this ran."
    echo "                 Forgot it? target/debug/corral password-reset --data-dir .corral/data";;
esac
echo "  Logs:          $LOGS/   Stop: kill \$(cat .corral/run/*.pid)"
