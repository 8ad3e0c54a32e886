#!/usr/bin/env bash
# Runs every test of Corral: formatting and lints, unit and router tests, the backend's
# tests once on SQLite and once on a throwaway PostgreSQL server, the schema-driven API fuzzer (scripts/fuzz.sh), then the
# end-to-end group (real processes, headless Chromium) one test at a time. Installs what is
# missing first; a second run only rebuilds what changed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=$SECONDS
# One full build, not an edit loop: incremental caches would double the disk the build takes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

ensure_apt curl chromium chromium-driver postgresql openssh-server websockify
ensure_qemu
ensure_lxc
ensure_rust
ensure_npm
ensure_schemathesis
build_tiny_image
export CORRAL_TINY_IMAGE="$TINY_IMAGE"
build_zone_image
export CORRAL_ZONE_IMAGE="$ZONE_IMAGE"
build_debian_image
export CORRAL_DEBIAN_IMAGE="$DEBIAN_IMAGE"

say "checking formatting"
cargo fmt --all --check
(cd frontend && cargo fmt --check)

build_frontend
say "building binaries and tests (once, shared by every stage)"
cargo build --quiet --workspace --bins --tests

say "lints"
cargo clippy --quiet --workspace --all-targets -- -D warnings
(cd frontend && cargo clippy --quiet --target wasm32-unknown-unknown --release -- -D warnings)

start_postgres
trap stop_postgres EXIT

say "unit, router and database tests (on SQLite)"
cargo test --quiet --workspace --exclude corral-e2e

say "the backend's router and database tests again, on PostgreSQL"
CORRAL_TEST_DATABASE=postgres cargo test --quiet -p corral --test '*'

say "the API fuzzer: every route from the OpenAPI document, three callers"
bash "$ROOT/scripts/fuzz.sh"

say "end-to-end tests: processes on loopback, real QEMU guests, LXC zones and headless Chromium, one at a time"
cargo test --quiet -p corral-e2e -- --test-threads=1

say "all tests passed in $((SECONDS - started)) s"
