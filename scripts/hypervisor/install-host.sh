#!/usr/bin/env bash
# Installs what a Vagrant + libvirt + QEMU host needs (Debian 12), without recommends, and without
# starting any service (a policy-rc.d forbids it: these machines have no systemd, and libvirtd is
# started later inside a network namespace). Idempotent: packages already present are skipped.
# Then configures libvirt's QEMU driver for a machine without systemd/udev/cgroups (configure-libvirt.sh).
source "$(dirname "$0")/common.sh"
require_root

PACKAGES=(
  vagrant vagrant-libvirt
  libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-utils dnsmasq-base iptables iproute2
  debootstrap e2fsprogs fdisk grub-pc-bin grub-common
  openssh-client rsync
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep '^install ok installed$' >/dev/null || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  log "host packages: all present"
else
  log "host packages: installing ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  had_policy=false
  [ -e "$policy" ] && had_policy=true
  if ! $had_policy; then
    # 101: "action forbidden"; invoke-rc.d then starts nothing during the install.
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet.
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

"$(dirname "$0")/configure-libvirt.sh"
