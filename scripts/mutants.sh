#!/usr/bin/env bash
# Mutation check (issue 11): cargo-mutants puts plausible bugs into the files that decide who
# may do what and what fits where, and counts the ones the tests catch. A measure, not a
# gate: it takes tens of minutes, so it is not part of scripts/test.sh or CI.
#
#   scripts/mutants.sh              every file below
#   scripts/mutants.sh policy       only the groups whose name matches
#   MUTANTS_SHARD=0/3 scripts/mutants.sh validate
#                                   one third of the mutants (cargo-mutants' --shard): a
#                                   sample when the whole group would take hours
#
# Each file is tested by the tests that exercise it (the `api/` rules mostly from the
# backend's router tests), with a per-mutant timeout. It runs in place, to reuse the warm
# build in target/: cargo-mutants puts every file back when done or interrupted, but do not
# edit the tree while it runs. Results go to .corral/mutants/<group>/mutants.out/ (caught.txt,
# missed.txt, timeout.txt, unviable.txt); a summary line per group is printed at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

MUTANTS_VERSION="27.0.0"
ensure_rust
if [ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $MUTANTS_VERSION" ]; then
  say "installing cargo-mutants $MUTANTS_VERSION (a few minutes, once)"
  cargo install cargo-mutants --version "$MUTANTS_VERSION" --locked --quiet
fi

# group | file | test packages | cargo test arguments (the test targets that exercise it)
CHECKS=(
  "validate|api/src/validate.rs|corral-api,corral|--lib --test machines --test hardening --test people --test quotas --test tokens --test openapi"
  "policy|backend/src/policy.rs|corral|--lib --test authz --test isolation --test hardening --test audit --test openapi"
  "quotas|backend/src/app/quotas.rs|corral|--lib --test quotas --test machines"
  "placement|backend/src/app/placement.rs|corral|--lib --test machines --test quotas"
)

only="${1:-}"
summary=()
for row in "${CHECKS[@]}"; do
  IFS='|' read -r group file packages test_args <<<"$row"
  [ -z "$only" ] || [[ "$group" == *"$only"* ]] || continue
  out="$ROOT/.corral/mutants/$group"
  mkdir -p "$out"
  say "mutating $file, tested by $packages: $test_args"
  # The test targets go to every cargo call (-C), so each mutant builds only those, not all
  # twenty test binaries of the backend.
  cargo_args=()
  for arg in $test_args; do cargo_args+=("--cargo-arg=$arg"); done
  [ -z "${MUTANTS_SHARD:-}" ] || cargo_args+=("--shard=$MUTANTS_SHARD")
  # Exit codes 2 (missed) and 3 (timeouts) are results here, not failures.
  cargo mutants --in-place --no-shuffle --file "$file" --test-package "$packages" \
    --timeout 240 --build-timeout 600 --output "$out" "${cargo_args[@]}" || true
  count() { [ -f "$out/mutants.out/$1.txt" ] && wc -l <"$out/mutants.out/$1.txt" || echo 0; }
  caught=$(count caught); missed=$(count missed); timeout=$(count timeout); unviable=$(count unviable)
  tested=$((caught + missed + timeout))
  score=$([ "$tested" -gt 0 ] && echo "$(( (caught + timeout) * 100 / tested ))%" || echo "n/a")
  summary+=("$group: $caught caught, $timeout timed out, $missed missed, $unviable unviable: $score")
done

say "mutation scores (caught or timed out, of viable mutants)"
printf '  %s\n' "${summary[@]}"
