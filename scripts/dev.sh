#!/usr/bin/env bash
# `npm run dev`: from a fresh clone to a running Capstan dev stack (see docs/dev-stack.md).
# Extra arguments go to `capstan dev`, e.g. `npm run dev -- --no-infra`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/toolchain.sh
source scripts/lib/toolchain.sh

capstan_ensure_node
capstan_ensure_pnpm
capstan_ensure_deps
capstan_build
capstan_ensure_apt nats-server redis-server
exec node services/cli/dist/main.js dev "$@"
