#!/usr/bin/env bash
# libvirt's QEMU driver on a machine without systemd, udev or cgroup delegation, as root:
# QEMU runs as root (/dev/kvm is root 0600 without udev rules), no mount namespaces, no cgroups,
# no security driver. Idempotent: each setting is replaced or appended.
source "$(dirname "$0")/common.sh"
require_root

conf=/etc/libvirt/qemu.conf
[ -f "$conf" ] || die "$conf not found: run install-host.sh first"

set_setting() {
  local key=$1 value=$2
  if grep -qE "^[[:space:]]*${key}[[:space:]]*=" "$conf"; then
    sed -i -E "s|^[[:space:]]*${key}[[:space:]]*=.*|${key} = ${value}|" "$conf"
  else
    printf '%s = %s\n' "$key" "$value" >> "$conf"
  fi
}

set_setting user '"root"'
set_setting group '"root"'
set_setting namespaces '[]'
set_setting cgroup_controllers '[]'
set_setting security_driver '"none"'
log "libvirt: $conf configured"
