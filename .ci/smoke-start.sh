#!/usr/bin/env bash
# Starts `npm start` with no DATABASE_URL on a fresh DATA_DIR, waits for /api/health = 200, stops it.
# Prints the cold and warm start times (process start to first healthy answer).
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir=$(mktemp -d /tmp/vmapi-smoke-XXXXXX)
chmod 755 "$data_dir"
port=${SMOKE_PORT:-3999}
npm run build >/dev/null

start_once() {
  local label=$1 log="$data_dir/$1.log" t0 pid code
  t0=$(date +%s%N)
  env -u DATABASE_URL DATA_DIR="$data_dir" PORT="$port" EMBEDDED_PG_PORT=$((port + 50000)) VM_PROVIDER=simulator \
    node dist/src/main.js >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health" || true)
    [ "$code" = 200 ] && break
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "smoke: npm start exited"; exit 1; fi
    sleep 0.1
  done
  if [ "$code" != 200 ]; then cat "$log"; echo "smoke: /api/health never answered 200"; kill "$pid"; exit 1; fi
  echo "smoke: $label start to healthy: $(( ($(date +%s%N) - t0) / 1000000 )) ms; $(curl -s "http://127.0.0.1:$port/api/health")"
  kill -TERM "$pid"
  wait "$pid" || true
  grep -q "Embedded PostgreSQL" "$log" || { cat "$log"; echo "smoke: embedded PostgreSQL was not used"; exit 1; }
}

start_once cold
start_once warm
rm -rf "$data_dir"
