#!/usr/bin/env bash
# `npm run proto:breaking`: checks proto/ for wire-breaking changes (the CAP contract is append-only).
# Compares with $CAPSTAN_PROTO_BASE when set; otherwise with the main branch from a feature branch, or with the
# previous commit when on main itself (what CI sees). The CAP field numbers are also pinned by
# test/golden/field-numbers.test.ts, so this mostly guards Capstan's own messages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

base="${CAPSTAN_PROTO_BASE:-}"
if [ -z "$base" ]; then
  branch="$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo '')"
  if [ "$branch" != "main" ] && git rev-parse --verify --quiet refs/heads/main >/dev/null; then
    base=main
  elif git rev-parse --verify --quiet HEAD~1 >/dev/null; then
    base=HEAD~1
  fi
fi
if [ -z "$base" ] || ! git cat-file -e "$base:proto" 2>/dev/null; then
  echo "proto-breaking: no earlier proto/ to compare against (base '${base:-none}'); nothing to check"
  exit 0
fi
pnpm exec buf breaking proto --against ".git#ref=$(git rev-parse "$base"),subdir=proto"
echo "proto-breaking: no wire-breaking changes in proto/ compared with $base"
