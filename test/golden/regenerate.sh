#!/usr/bin/env bash
# Rebuilds test/golden/vectors/*.bin from the hand-written *.txtpb with protoc, the C++ protobuf implementation.
# The .bin files are protoc's bytes, never Capstan's: that is what makes them an independent reference.
#
#   test/golden/regenerate.sh          rewrite every .bin
#   test/golden/regenerate.sh --check  only verify the committed .bin files are up to date (exit 1 if not)
#
# Each .txtpb names its message type in a `# proto-message: <full.type.Name>` header line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
vectors="$root/test/golden/vectors"
check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc not found. Install it with: apt-get install -y protobuf-compiler" >&2
  exit 1
fi

cd "$root/proto"
mapfile -t protos < <(find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)

stale=0
shopt -s nullglob
for txt in "$vectors"/*.txtpb; do
  type="$(sed -n 's/^# proto-message: *//p' "$txt" | head -n 1)"
  if [ -z "$type" ]; then
    echo "$txt: missing a '# proto-message: <full.type.Name>' header line" >&2
    exit 1
  fi
  bin="${txt%.txtpb}.bin"
  tmp="$(mktemp)"
  # --deterministic_output sorts map entries by key; fields are always written in field-number order.
  if ! protoc --encode="$type" --deterministic_output -I . "${protos[@]}" <"$txt" >"$tmp"; then
    rm -f "$tmp"
    echo "$txt: protoc could not encode it as $type" >&2
    exit 1
  fi
  if [ "$check" = 1 ]; then
    if ! cmp -s "$tmp" "$bin"; then
      echo "stale: ${bin#"$root"/} (run test/golden/regenerate.sh)" >&2
      stale=1
    fi
    rm -f "$tmp"
  else
    mv "$tmp" "$bin"
    echo "wrote ${bin#"$root"/} ($(wc -c <"$bin") bytes, $type)"
  fi
done
exit "$stale"
