#!/usr/bin/env bash
# `npm run test:interop`: the cross-language interop suite (see docs/interop.md).
#
# 1. Makes sure Node, pnpm, the workspace dependencies, nats-server, redis-server, PostgreSQL and protoc are there
#    (like `npm test`).
# 2. Looks for python3 and go and says, per language, what will run and what will not and why.
# 3. Prepares what runs, in .capstan/interop/ (gitignored; reused while the pins do not change):
#      - a venv with the official CAP Python SDK (cap-sdk-python, pinned in python/requirements.txt);
#      - the official CAP Go SDK (github.com/cordum-io/cap/v2) through the Go module proxy, when it is served;
#      - Go code generated from proto/ (protoc + protoc-gen-go pinned in go/go.mod) and the capgo program.
# 4. Runs the scenarios with vitest (test/interop/vitest.config.ts) against real NATS/Redis/Postgres and prints the
#    scenario × language table. Exits non-zero when anything failed.
# Extra arguments go to vitest, e.g. `npm run test:interop -- -t trace_id`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/toolchain.sh
source scripts/lib/toolchain.sh

capstan_ensure_node
capstan_ensure_pnpm
capstan_ensure_deps
capstan_ensure_apt nats-server redis-server postgresql protobuf-compiler

INTEROP_DIR="test/interop"
CACHE_DIR="${INTEROP_CACHE_DIR:-$PWD/.capstan/interop}"
mkdir -p "$CACHE_DIR/bin" "$CACHE_DIR/logs"
rm -f "$CACHE_DIR"/logs/*.log
export INTEROP_CACHE_DIR="$CACHE_DIR"
GO_SDK_MODULE="github.com/cordum-io/cap/v2"

say() { printf 'interop: %s\n' "$*"; }
plan=()

# ---------- Python: the official SDK in a venv keyed by the requirements file ----------
prepare_python() {
  if ! command -v python3 >/dev/null 2>&1; then
    export INTEROP_PYTHON_SKIP="python3 is not installed (install Python >= 3.9 to run the Python SDK scenarios)"
    return 0
  fi
  local version
  version="$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
    export INTEROP_PYTHON_SKIP="python3 is $version; cap-sdk-python needs >= 3.9"
    return 0
  fi
  local hash venv
  hash="$(cat "$INTEROP_DIR/python/requirements.txt" <(python3 -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)"
  venv="$CACHE_DIR/venv-$hash"
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    say "python $version: creating $venv and installing the pinned cap-sdk-python"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --disable-pip-version-check --no-input -q -r "$INTEROP_DIR/python/requirements.txt" >&2
    touch "$venv/.complete"
  fi
  export INTEROP_PYTHON="$venv/bin/python"
  INTEROP_PYTHON_SDK="cap-sdk-python $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("cap-sdk-python"))')"
  export INTEROP_PYTHON_SDK
  plan+=("python $version, $INTEROP_PYTHON_SDK ($(basename "$venv")): every scenario + golden vectors")
}

# ---------- Go: generated types + capgo; and a try at the official SDK ----------
prepare_go() {
  if ! command -v go >/dev/null 2>&1; then
    export INTEROP_GO_SKIP="go is not installed (install Go >= 1.26 to run the Go scenarios)"
    export INTEROP_GO_SDK_SKIP="go is not installed"
    return 0
  fi
  local goversion need
  goversion="$(go env GOVERSION)"
  need="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$INTEROP_DIR/go/go.mod")"
  # Never let go fetch a newer toolchain (it cannot here); say what is missing instead.
  export GOTOOLCHAIN=local
  if ! printf '%s\n%s\n' "$need" "${goversion#go}" | sort -V -C; then
    export INTEROP_GO_SKIP="$goversion is older than go $need, which test/interop/go/go.mod needs (its nats.go and go-redis do)"
    export INTEROP_GO_SDK_SKIP="$INTEROP_GO_SKIP"
    return 0
  fi
  (
    cd "$INTEROP_DIR/go"
    # protoc-gen-go at the version go.mod pins (a `tool` dependency), then the Go types for proto/.
    go build -o "$CACHE_DIR/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
  ) >&2
  local opts=() f
  for f in $(cd proto && ls cordum/agent/v1/*.proto); do
    opts+=("--go_opt=M$f=capstan.dev/interop/internal/pb/cordumv1;cordumv1")
  done
  opts+=("--go_opt=Mcapstan/bus/v1/dead_letter.proto=capstan.dev/interop/internal/pb/busv1;busv1")
  rm -rf "$INTEROP_DIR/go/internal/pb"
  protoc -I proto --plugin=protoc-gen-go="$CACHE_DIR/bin/protoc-gen-go" --go_out="$INTEROP_DIR/go" \
    --go_opt=module=capstan.dev/interop "${opts[@]}" $(cd proto && ls cordum/agent/v1/*.proto) capstan/bus/v1/dead_letter.proto
  (cd "$INTEROP_DIR/go" && go build -o "$CACHE_DIR/bin/capgo" ./cmd/capgo) >&2
  export INTEROP_GO_BIN="$CACHE_DIR/bin/capgo"
  INTEROP_GO_RUNTIME="$(cd "$INTEROP_DIR/go" && go list -m -f '{{.Path}} {{.Version}}' github.com/nats-io/nats.go google.golang.org/protobuf google.golang.org/grpc | sed 's|github.com/nats-io/||; s|google.golang.org/||' | paste -sd' ' | sed 's/ v/@v/g; s/@v\([^ ]*\) /@v\1 + /g')"
  export INTEROP_GO_RUNTIME
  plan+=("$goversion, capgo ($INTEROP_GO_RUNTIME, no SDK): every scenario + golden vectors")

  # The official Go SDK: fetched into the module cache when the proxy serves it; never vendored or committed.
  local probe out
  probe="$(mktemp -d)"
  if out="$(cd "$probe" && go mod init interop-probe >/dev/null 2>&1 && timeout 120 go mod download -json "$GO_SDK_MODULE@latest" 2>&1)"; then
    local v
    v="$(printf '%s' "$out" | sed -n 's/.*"Version": *"\([^"]*\)".*/\1/p' | head -1)"
    export INTEROP_GO_SDK_SKIP="$GO_SDK_MODULE $v is now served by the module proxy, but the suite has no programs for it yet (docs/interop.md, 'Go SDK')"
  else
    export INTEROP_GO_SDK_SKIP="the Go module proxy does not serve $GO_SDK_MODULE ($(printf '%s' "$out" | grep -m1 -oE '[0-9]{3} [A-Za-z ]+' || echo 'download failed'))"
  fi
  rm -rf "$probe"
}

prepare_python
prepare_go

say "what runs:"
for line in "${plan[@]}"; do say "  - $line"; done
say "what does not run, and why:"
[ -n "${INTEROP_PYTHON_SKIP:-}" ] && say "  - python: $INTEROP_PYTHON_SKIP"
[ -n "${INTEROP_GO_SKIP:-}" ] && say "  - go (capgo): $INTEROP_GO_SKIP"
[ -n "${INTEROP_GO_SDK_SKIP:-}" ] && say "  - go (official SDK): $INTEROP_GO_SDK_SKIP"
say "logs: ${CACHE_DIR#"$PWD/"}/logs/"
echo

exec pnpm exec vitest run --config "$INTEROP_DIR/vitest.config.ts" "$@"
