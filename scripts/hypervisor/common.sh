# Shared by the scripts in this folder (sourced, not run).
# Everything they create lives outside the repository: caches under VMAPI_CACHE_DIR (kept between runs),
# per-namespace state (pid files, logs) under VMAPI_STATE_DIR/<namespace>.
set -euo pipefail

VMAPI_CACHE_DIR=${VMAPI_CACHE_DIR:-/var/cache/vmapi}
VMAPI_STATE_DIR=${VMAPI_STATE_DIR:-/run/vmapi}

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

require_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# A namespace name is used in paths and as an `ip netns` name: keep it plain.
check_ns_name() {
  [[ "$1" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "namespace name '$1' must match ^[a-z][a-z0-9-]{0,30}$"
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
