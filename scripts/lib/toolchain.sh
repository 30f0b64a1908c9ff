# shellcheck shell=bash
# Toolchain helpers shared by scripts/dev.sh and scripts/test.sh (sourced, not executed).
#
# Only Node (>= 20) and apt are assumed. Everything else is brought in here, idempotently:
#   - Node 22 LTS from the npm registry (package node-linux-<arch>) into .toolchain/node22 when the machine's
#     node is older; if that fails we carry on with the machine's node (Capstan still runs on Node 20).
#   - pnpm 12 (global npm install, or .toolchain/pnpm when the global prefix is not writable).
#   - workspace dependencies (pnpm install --frozen-lockfile) only when the lockfile or a package.json changed.
#   - nats-server, redis-server, ... from apt when missing (root only; otherwise say exactly what to run).

CAPSTAN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CAPSTAN_TOOLCHAIN_DIR="$CAPSTAN_ROOT/.toolchain"
CAPSTAN_NODE_MAJOR=22
CAPSTAN_PNPM_VERSION=12
# Debian installs nats-server in /usr/sbin, which is not on every user's PATH.
case ":$PATH:" in *":/usr/sbin:"*) ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;; esac
export PATH

capstan_log() { printf 'capstan: %s\n' "$*" >&2; }
capstan_warn() { printf 'capstan: warning: %s\n' "$*" >&2; }
capstan_die() {
  printf 'capstan: error: %s\n' "$*" >&2
  exit 1
}

capstan_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Puts Node 22 first on PATH, installing it from the npm registry when the machine's node is older.
capstan_ensure_node() {
  command -v node >/dev/null 2>&1 || capstan_die "node is not installed; install Node.js 20 or newer (e.g. apt-get install -y nodejs npm)"
  if [ "$(capstan_node_major)" -ge "$CAPSTAN_NODE_MAJOR" ]; then return 0; fi
  local arch pkg prefix bin
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *)
      capstan_warn "no Node $CAPSTAN_NODE_MAJOR package for $(uname -m); continuing on node $(node -v)"
      return 0
      ;;
  esac
  pkg="node-linux-$arch"
  prefix="$CAPSTAN_TOOLCHAIN_DIR/node$CAPSTAN_NODE_MAJOR"
  bin="$prefix/node_modules/$pkg/bin"
  if ! "$bin/node" --version >/dev/null 2>&1; then
    capstan_log "node $(node -v) is older than $CAPSTAN_NODE_MAJOR; installing Node $CAPSTAN_NODE_MAJOR LTS into ${prefix#"$CAPSTAN_ROOT/"}"
    mkdir -p "$prefix"
    if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "$pkg@$CAPSTAN_NODE_MAJOR" >&2 ||
      ! "$bin/node" --version >/dev/null 2>&1; then
      capstan_warn "could not install Node $CAPSTAN_NODE_MAJOR; continuing on node $(node -v) (supported, but past end-of-life)"
      return 0
    fi
  fi
  PATH="$bin:$PATH"
  export PATH
  hash -r
  capstan_log "using node $(node -v) from ${bin#"$CAPSTAN_ROOT/"}"
}

# Makes `pnpm` available: global install when possible, else a local one under .toolchain/pnpm.
capstan_ensure_pnpm() {
  if command -v pnpm >/dev/null 2>&1 && pnpm --version >/dev/null 2>&1; then return 0; fi
  local local_bin="$CAPSTAN_TOOLCHAIN_DIR/pnpm/node_modules/.bin"
  if [ -x "$local_bin/pnpm" ]; then
    PATH="$local_bin:$PATH"
    export PATH
    return 0
  fi
  capstan_log "installing pnpm@$CAPSTAN_PNPM_VERSION"
  if npm install -g --no-audit --no-fund --loglevel=error "pnpm@$CAPSTAN_PNPM_VERSION" >&2 && command -v pnpm >/dev/null 2>&1; then
    hash -r
    return 0
  fi
  capstan_warn "global install of pnpm failed; installing it into ${CAPSTAN_TOOLCHAIN_DIR#"$CAPSTAN_ROOT/"}/pnpm"
  npm install --prefix "$CAPSTAN_TOOLCHAIN_DIR/pnpm" --no-audit --no-fund --loglevel=error "pnpm@$CAPSTAN_PNPM_VERSION" >&2 ||
    capstan_die "could not install pnpm (npm install pnpm@$CAPSTAN_PNPM_VERSION failed)"
  PATH="$local_bin:$PATH"
  export PATH
  hash -r
}

# Installs workspace dependencies when node_modules is missing or a manifest/lockfile changed since last time.
capstan_ensure_deps() {
  local stamp="$CAPSTAN_ROOT/node_modules/.capstan-install-stamp"
  local needs=0
  if [ ! -f "$stamp" ]; then
    needs=1
  elif [ -n "$(find "$CAPSTAN_ROOT" -maxdepth 3 \( -name node_modules -o -name .git -o -name .toolchain \) -prune -o \
    \( -name pnpm-lock.yaml -o -name package.json -o -name pnpm-workspace.yaml \) -newer "$stamp" -print -quit)" ]; then
    needs=1
  fi
  if [ "$needs" -eq 0 ]; then return 0; fi
  capstan_log "installing dependencies (pnpm install --frozen-lockfile)"
  (cd "$CAPSTAN_ROOT" && pnpm install --frozen-lockfile) >&2 || capstan_die "pnpm install --frozen-lockfile failed"
  touch "$stamp"
}

# Builds every package (incremental TypeScript project build).
capstan_build() {
  capstan_log "building (tsc -b)"
  (cd "$CAPSTAN_ROOT" && pnpm exec tsc -b) >&2
}

# Returns 0 when the command behind an apt package is installed.
capstan_apt_package_present() {
  case "$1" in
    nats-server) command -v nats-server >/dev/null 2>&1 ;;
    redis-server) command -v redis-server >/dev/null 2>&1 ;;
    protobuf-compiler) command -v protoc >/dev/null 2>&1 ;;
    prometheus) command -v promtool >/dev/null 2>&1 ;;
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null 2>&1 ;;
    *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
  esac
}

CAPSTAN_APT_UPDATED=0

# Installs the given Debian packages when missing: as root through apt-get; otherwise prints the command.
# Leading options go to apt-get install (e.g. --no-install-recommends).
capstan_ensure_apt() {
  local missing=() options=() pkg
  while [ "$#" -gt 0 ] && [ "${1#-}" != "$1" ]; do
    options+=("$1")
    shift
  done
  for pkg in "$@"; do
    capstan_apt_package_present "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  local install="apt-get install -y ${options[*]:+${options[*]} }${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    capstan_die "missing ${missing[*]}; install as root with:
    apt-get update && $install
  (or: sudo apt-get update && sudo $install), then run this command again"
  fi
  command -v apt-get >/dev/null 2>&1 || capstan_die "missing ${missing[*]} and apt-get is not available; install them with your package manager"
  capstan_log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$CAPSTAN_APT_UPDATED" -eq 0 ]; then
    apt-get update >&2 || capstan_die "apt-get update failed"
    CAPSTAN_APT_UPDATED=1
  fi
  apt-get install -y -o DPkg::Lock::Timeout=300 "${options[@]}" "${missing[@]}" >&2 ||
    capstan_die "apt-get install ${missing[*]} failed"
  hash -r
  for pkg in "${missing[@]}"; do
    capstan_apt_package_present "$pkg" || capstan_die "$pkg was installed but its program is still not found"
  done
}
