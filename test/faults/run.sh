#!/usr/bin/env bash
# `npm run test:faults`: the fault-injection suite (see docs/faults.md).
#
# Makes sure Node, pnpm, the workspace dependencies, nats-server, redis-server and PostgreSQL are there (like
# `npm test`), then runs every fault — the quick `*.test.ts` ones that `npm test` runs too, and the slow
# `*.fault.ts` ones — one file at a time with vitest (test/faults/vitest.config.ts), and ends with the fault table
# (also written to .capstan/faults/last-run.md). A failed fault keeps its run directory under .capstan/faults/
# (process logs, effects files, the recorded history). Extra arguments go to vitest, e.g.
# `npm run test:faults -- -t "fault 5"`. FAULTS_LOG_LEVEL=debug makes the Capstan processes log more.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/toolchain.sh
source scripts/lib/toolchain.sh

capstan_ensure_node
capstan_ensure_pnpm
capstan_ensure_deps
capstan_ensure_apt nats-server redis-server postgresql

exec pnpm exec vitest run --config test/faults/vitest.config.ts "$@"
