# Shared steps of scripts/up.sh and scripts/test.sh: install what is missing, build once.
# Every step checks before it acts, so a second run is quick and changes nothing.

WASM_BINDGEN_VERSION=0.2.130
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_apt pkg...: installs the Debian packages that are not installed yet.
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# QEMU from Debian. qemu-system-x86 must match qemu-utils' version: where a newer qemu-utils
# came from backports, apt would remove it (taking qemu-img away), so both are pinned to the
# emulator's version in one transaction.
ensure_qemu() {
  if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null; then
    say "installing QEMU"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq || true
    local v; v="$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --allow-downgrades \
      qemu-system-x86 "qemu-utils=$v" >/dev/null
  fi
  # What scripts/build-tiny-image.sh builds the guest from; xorriso makes guests' cloud-init
  # seed volumes (the bridge runs it).
  ensure_apt busybox-static syslinux syslinux-common mtools dosfstools xorriso
}

# LXC for zones (research/zones.md): lxc itself, rsync (dir-backed snapshots copy with it;
# it is only a Recommends), btrfs-progs (zone storage on btrfs), and busybox-static, which
# scripts/build-zone-image.sh builds the busybox zone from.
ensure_lxc() {
  ensure_apt lxc rsync btrfs-progs busybox-static file
}

# Puts a node's zones on btrfs: a sparse file beside them (<node-data>/zones.btrfs, 20 GiB at
# most, taking space only as zones fill it) mounted on <node-data>/zones, so zones' disk sizes
# hold and their snapshots are subvolumes. Nothing is done when it is mounted already; zones
# made before on plain directories stay there (said), and where loop mounts are not allowed
# (some containers) zones stay directories with their sizes unenforced.
ensure_zone_btrfs() {
  local zones="$1/zones" image="$1/zones.btrfs"
  mountpoint -q "$zones" && return 0
  if [ -d "$zones" ] && [ -n "$(ls -A "$zones")" ]; then
    say "the zones in $zones stay on plain directories: their disk sizes are not enforced"
    return 0
  fi
  mkdir -p "$zones"
  if [ ! -f "$image" ]; then
    truncate -s 20G "$image"
    mkfs.btrfs -q "$image" >/dev/null
  fi
  mount -o loop "$image" "$zones" ||
    say "cannot mount $image: zones are plain directories, their disk sizes not enforced"
}

# Builds the busybox zone image if it is missing or older than its script.
ZONE_IMAGE="$ROOT/.corral/images/busybox.tar.gz"
build_zone_image() {
  if [ ! -f "$ZONE_IMAGE" ] || [ "$ROOT/scripts/build-zone-image.sh" -nt "$ZONE_IMAGE" ]; then
    say "building the busybox zone image"
  fi
  bash "$ROOT/scripts/build-zone-image.sh" "$ZONE_IMAGE" >/dev/null
}

# Builds the tiny guest image if it is missing or older than its script.
TINY_IMAGE="$ROOT/.corral/images/tiny.qcow2"
build_tiny_image() {
  if [ ! -f "$TINY_IMAGE" ] || [ "$ROOT/scripts/build-tiny-image.sh" -nt "$TINY_IMAGE" ]; then
    say "building the tiny guest image"
  fi
  bash "$ROOT/scripts/build-tiny-image.sh" "$TINY_IMAGE"
}

# Builds the Debian cloud guest, once per machine (the script caches it outside the clone,
# keyed by its own content, and says when it builds: minutes) and copies it here.
DEBIAN_IMAGE="$ROOT/.corral/images/debian-12.qcow2"
build_debian_image() {
  bash "$ROOT/scripts/build-debian-image.sh" "$DEBIAN_IMAGE"
}

ensure_rust() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Not --locked: its lockfile names a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet
  fi
}

ensure_npm() {
  # Installed again whenever package.json changed since the last install.
  local stamp="$ROOT/node_modules/.corral-package-json"
  if [ ! -x "$ROOT/node_modules/.bin/wasm-opt" ] || [ ! -f "$stamp" ] \
      || [ "$(cat "$stamp")" != "$(sha256sum "$ROOT/package.json" | cut -d' ' -f1)" ]; then
    say "installing npm packages"
    (cd "$ROOT" && npm install --no-audit --no-fund --silent)
    sha256sum "$ROOT/package.json" | cut -d' ' -f1 > "$stamp"
  fi
}

# Builds the wasm app into frontend/dist (index.html, corral.css, pkg/).
build_frontend() {
  say "building the frontend"
  local dist="$ROOT/frontend/dist"
  (cd "$ROOT/frontend" && cargo build --quiet --target wasm32-unknown-unknown --release)
  local wasm="$ROOT/frontend/target/wasm32-unknown-unknown/release/corral-frontend.wasm"
  local stamp="$dist/pkg/.built-from"
  # wasm-bindgen and wasm-opt take ~20 s: skip them when the wasm did not change.
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(sha256sum "$wasm" | cut -d' ' -f1)" ]; then
    rm -rf "$dist/pkg" && mkdir -p "$dist/pkg"
    wasm-bindgen --target web --no-typescript --out-name corral_frontend --out-dir "$dist/pkg" "$wasm"
    "$ROOT/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-reference-types --enable-multivalue \
      "$dist/pkg/corral_frontend_bg.wasm" -o "$dist/pkg/corral_frontend_bg.wasm"
    sha256sum "$wasm" | cut -d' ' -f1 > "$stamp"
  fi
  cp "$ROOT/frontend/index.html" "$ROOT/frontend/theme.js" "$ROOT/frontend/boot.mjs" "$dist/"
  cp "$ROOT/style/corral.css" "$dist/corral.css"
  # The consoles' JavaScript, served as ES modules: noVNC's own tree (its modules import each
  # other by relative path) and xterm.js with its fit addon.
  local npm="$ROOT/node_modules"
  rm -rf "$dist/novnc" "$dist/xterm" && mkdir -p "$dist/novnc" "$dist/xterm"
  cp -r "$npm/@novnc/novnc/core" "$npm/@novnc/novnc/vendor" "$dist/novnc/"
  cp "$npm/@xterm/xterm/lib/xterm.mjs" "$npm/@xterm/xterm/css/xterm.css" \
    "$npm/@xterm/addon-fit/lib/addon-fit.mjs" "$dist/xterm/"
}

# Builds the native binaries and test binaries in one go (dev profile, shared by up and test).
build_native() {
  say "building corral and corral-bridge"
  (cd "$ROOT" && cargo build --quiet --workspace --bins)
}

# Starts a throwaway PostgreSQL on a free loopback port and exports CORRAL_TEST_POSTGRES_URL.
# PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
PG_DIR=""
start_postgres() {
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -x "$bin/initdb" ] || { echo "PostgreSQL not found under /usr/lib/postgresql" >&2; return 1; }
  # A throwaway server wants no durability: in memory when there is room (every test makes
  # its own database, a few GiB in all), so a nearly full disk cannot fail the run.
  local under=/tmp
  if [ -d /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((6 * 1024 * 1024)) ]; then
    under=/dev/shm
  fi
  PG_DIR="$(mktemp -d "$under/corral-pg.XXXXXX")"
  local as=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PG_DIR"; as=(runuser -u postgres --); fi
  local port; port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off" start >/dev/null
  export CORRAL_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export CORRAL_REQUIRE_POSTGRES=1
}

stop_postgres() {
  [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ] || return 0
  local bin; bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  local as=(); [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}

# The API fuzzer, schemathesis from PyPI, in a virtual environment of its own (made once,
# kept at the pinned version).
SCHEMATHESIS_VERSION=4.32.5
FUZZ_VENV="$ROOT/.corral/fuzz-venv"
ensure_schemathesis() {
  ensure_apt python3-venv
  if [ "$("$FUZZ_VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
    say "installing schemathesis $SCHEMATHESIS_VERSION in $FUZZ_VENV"
    python3 -m venv "$FUZZ_VENV"
    "$FUZZ_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

# The Debian mirror this machine's apt builds bookworm from: the first bookworm source,
# deb822 (`URIs:`) or one-line (`deb URL …`). Read from the system, never written down.
debian_mirror() {
  local f
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk '/^URIs:/ { uri = $2 } /^Suites:/ && / bookworm( |$)/ && uri { print uri; exit }
           /^$/ { uri = "" }' "$f"
    done
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
      awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                         if ($(i + 1) == "bookworm") { print $i; exit } }'
  } | awk 'NR == 1'
}
