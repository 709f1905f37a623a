#!/usr/bin/env bash
# Undoes netns-up.sh: powers off the domains running in <ns>, removes the named domains with their
# storage, stops libvirtd and virtlogd (and whatever else still runs in the namespace, e.g. libvirt's
# dnsmasq) and deletes the namespace. Safe to run twice.
#
#   netns-down.sh <ns> [domain ...]
source "$(dirname "$0")/common.sh"
require_root
ns=${1:?usage: netns-down.sh <namespace> [domain ...]}
shift
check_ns_name "$ns"
state=$VMAPI_STATE_DIR/$ns

if [ -f "$state/libvirtd.pid" ] && kill -0 "$(cat "$state/libvirtd.pid")" 2>/dev/null; then
  for dom in $(virsh -q list --name 2>/dev/null); do virsh -q destroy "$dom" >/dev/null 2>&1 || true; done
  for dom in "$@"; do
    virsh -q destroy "$dom" >/dev/null 2>&1 || true
    virsh -q undefine "$dom" --remove-all-storage >/dev/null 2>&1 || true
  done
  for net in $(virsh -q net-list --name 2>/dev/null); do virsh -q net-destroy "$net" >/dev/null 2>&1 || true; done
fi

stop_pidfile() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
stop_pidfile "$state/libvirtd.pid"
stop_pidfile "$state/virtlogd.pid"

if ip netns list | awk '{print $1}' | grep -x "$ns" >/dev/null; then
  # Only processes inside this namespace (created by netns-up.sh for this run) are left to stop.
  pids=$(ip netns pids "$ns" || true)
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    sleep 1
    pids=$(ip netns pids "$ns" || true)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  fi
  ip netns del "$ns"
fi
rm -rf "$state"
log "network namespace $ns removed"
