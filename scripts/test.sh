#!/usr/bin/env bash
# `npm test`: everything CI checks, from a fresh clone (see .ci/run). Installs what is missing, then runs
#   buf lint, a generated-code freshness check, tsc -b, biome check and vitest,
# and ends with one plain line "N passed, N failed". Exits non-zero when anything failed.
# Extra arguments go to vitest, e.g. `npm test -- packages/config`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/toolchain.sh
source scripts/lib/toolchain.sh

capstan_ensure_node
capstan_ensure_pnpm
capstan_ensure_deps
# protoc: the golden-vector tests cross-check our encoding with it; postgresql: integration tests.
capstan_ensure_apt nats-server redis-server postgresql protobuf-compiler
# promtool (Debian's prometheus package, without its recommends: exporters and the like) checks and unit-tests the
# alert rules in deploy/prometheus; installing it starts no Prometheus server here (no init system).
capstan_ensure_apt --no-install-recommends prometheus

work="$(mktemp -d "${TMPDIR:-/tmp}/capstan-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed_checks=()
# Runs one static check, printing a header and recording a failure instead of stopping.
check() {
  local name="$1"
  shift
  printf '\n== %s\n' "$name"
  if "$@"; then
    printf '== %s: ok\n' "$name"
  else
    printf '== %s: FAILED\n' "$name"
    failed_checks+=("$name")
  fi
}

# Regenerates gen/ts into a temp dir and compares, so the check does not depend on git state.
generated_code_is_current() {
  pnpm exec buf generate --output "$work/regen" || return 1
  if ! diff -r -u "$work/regen/gen/ts" gen/ts >"$work/gen.diff"; then
    head -n 200 "$work/gen.diff"
    echo "gen/ts is out of date with proto/: run 'pnpm run generate' and commit the result"
    return 1
  fi
}

check 'buf lint' pnpm exec buf lint
check 'generated code (buf generate leaves no diff)' generated_code_is_current
check 'proto contract is append-only (buf breaking)' bash scripts/proto-breaking.sh
check 'typecheck (tsc -b)' pnpm exec tsc -b
check 'lint (biome check .)' pnpm exec biome check .

printf '\n== tests (vitest run)\n'
report="$work/vitest.json"
vitest_status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || vitest_status=$?

passed=0
failed=0
skipped=0
if [ -s "$report" ]; then
  read -r passed failed skipped < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(r.numPassedTests, r.numFailedTests, (r.numPendingTests || 0) + (r.numTodoTests || 0));
  ' "$report") || true
fi
if [ "$vitest_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # vitest failed without a failing test (setup error, no tests found, unhandled error): count the run itself.
  echo "vitest exited with status $vitest_status"
  failed_checks+=('vitest run')
fi

if [ "${#failed_checks[@]}" -gt 0 ]; then
  printf '\nfailed checks (each counted as one failure below): %s\n' "$(IFS=','; echo "${failed_checks[*]}")"
fi
total_failed=$((failed + ${#failed_checks[@]}))
summary="$passed passed, $total_failed failed"
if [ "$skipped" -gt 0 ]; then summary="$summary, $skipped skipped"; fi
echo
echo "$summary"
[ "$total_failed" -eq 0 ]
