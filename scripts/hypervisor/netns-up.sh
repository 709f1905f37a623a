#!/usr/bin/env bash
# Creates the network namespace <ns> and starts virtlogd and libvirtd inside it, so that libvirt's
# networks, their dnsmasq and every QEMU process live there: VM traffic has no route out of it.
#
#   netns-up.sh <ns>        then run vagrant through ./vagrant-netns with VMAPI_NETNS=<ns>
#   netns-down.sh <ns>      stops them and deletes the namespace
#
# Machines without systemd: the daemons are started by hand, with pid files in $VMAPI_STATE_DIR/<ns>.
# libvirtd's control socket is a file (/run/libvirt/libvirt-sock), so only one libvirtd runs per machine:
# this refuses to start when one is already running.
source "$(dirname "$0")/common.sh"
require_root
ns=${1:?usage: netns-up.sh <namespace>}
check_ns_name "$ns"
state=$VMAPI_STATE_DIR/$ns
mkdir -p "$state"

if ! ip netns list | awk '{print $1}' | grep -x "$ns" >/dev/null; then
  ip netns add "$ns"
fi
in_ns "$ns" ip link set lo up

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if running "$state/libvirtd.pid"; then
  log "libvirtd already runs in $ns (pid $(cat "$state/libvirtd.pid"))"
else
  other=$(pgrep -x libvirtd || true)
  [ -z "$other" ] || die "a libvirtd runs already (pid $other) outside namespace $ns: stop it first"
  running "$state/virtlogd.pid" || in_ns "$ns" virtlogd -d -p "$state/virtlogd.pid"
  in_ns "$ns" libvirtd -d -p "$state/libvirtd.pid"
fi

deadline=$((SECONDS + 60))
until virsh -c qemu:///system -q version >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || die "libvirtd did not answer within 60 s"
  sleep 0.5
done

# vagrant-libvirt keeps box images and VM disks in the pool named default.
if ! virsh -q pool-info default >/dev/null 2>&1; then
  mkdir -p /var/lib/libvirt/images
  virsh -q pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
  virsh -q pool-autostart default >/dev/null
fi
# libvirtd may be autostarting it right now: start it if it is not, then check.
pool_running() { [[ "$(virsh pool-info default 2>/dev/null)" =~ State:[[:space:]]+running ]]; }
pool_running || virsh -q pool-start default >/dev/null 2>&1 || true
for _ in $(seq 1 20); do pool_running && break; sleep 0.5; done
pool_running || die "libvirt storage pool default is not running"
log "libvirtd runs in network namespace $ns (pid $(cat "$state/libvirtd.pid"))"
