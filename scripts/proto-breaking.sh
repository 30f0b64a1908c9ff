#!/usr/bin/env bash
# `npm run proto:breaking`: checks proto/ for wire-breaking changes against the main branch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if git rev-parse --verify --quiet refs/heads/main >/dev/null && git cat-file -e main:proto 2>/dev/null; then
  pnpm exec buf breaking proto --against '.git#branch=main,subdir=proto'
  echo "proto-breaking: no wire-breaking changes in proto/ compared with the main branch"
  exit 0
fi
echo "proto-breaking: no main branch with a proto/ directory to compare against; nothing to check"
