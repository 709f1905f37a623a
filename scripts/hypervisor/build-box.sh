#!/usr/bin/env bash
# Builds a Debian 12 Vagrant box for the libvirt provider with debootstrap and adds it to Vagrant.
#
#   build-box.sh [box-name]      (default vmapi/debian12; the OS catalog maps an os_type to it)
#
# The box file is cached in $VMAPI_CACHE_DIR/boxes (and the downloaded packages as a debootstrap
# tarball in $VMAPI_CACHE_DIR/debootstrap): a second run only re-adds the cached box if Vagrant lacks it.
# BOX_RECIPE names the recipe below; change it whenever the recipe changes so caches are rebuilt.
#
# What the box contains (docs/real-vms.md says why):
# - a minbase Debian 12 with its stock kernel, GRUB (BIOS), sshd, sudo, systemd, systemd-networkd;
# - DHCP on every ethernet interface with ClientIdentifier=mac and SendRelease=no (a shutting-down guest
#   must keep its lease, or vagrant-libvirt loses the IP mid-halt and dnsmasq may hand it to another VM);
# - user `vagrant` with Vagrant's well-known insecure key and password-less sudo (Vagrant replaces the key
#   on first up; the platform's login user is created by the generated Vagrantfile's provisioner);
# - grow-on-boot: vmapi-growroot.service (before sshd, every boot) grows the root partition to the end of
#   the disk (growpart, from cloud-guest-utils) and the ext4 filesystem to the partition (resize2fs), so the
#   disk size the platform asks for (libvirt machine_virtual_size) becomes the root filesystem's size;
# - fresh SSH host keys and machine-id per VM (generated on first boot).
source "$(dirname "$0")/common.sh"
require_root

BOX_NAME=${1:-vmapi/debian12}
BOX_RECIPE=debian12-r1
SUITE=bookworm
DISK_GB=4
INCLUDE=linux-image-amd64,initramfs-tools,systemd,systemd-sysv,udev,dbus,openssh-server,sudo,cloud-guest-utils,fdisk,e2fsprogs,iproute2,procps,util-linux

box_dir=$VMAPI_CACHE_DIR/boxes
box_file=$box_dir/$BOX_RECIPE.box
tarball=$VMAPI_CACHE_DIR/debootstrap/$SUITE-amd64-$(printf '%s' "$INCLUDE" | sha256sum | cut -c1-12).tgz
vagrant_home=${VAGRANT_HOME:-$HOME/.vagrant.d}
box_path=$vagrant_home/boxes/${BOX_NAME//\//-VAGRANTSLASH-}
marker=$box_path/vmapi-recipe

# The Debian mirror apt already uses (deb822 .sources or one-line .list), so no other host is contacted.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uri && ok && deb) exit; uri=""; ok=0; deb=0; next }
      tolower($1)=="uris:" { uri=$2 }
      tolower($1)=="types:" { for (i=2;i<=NF;i++) if ($i=="deb") deb=1 }
      tolower($1)=="suites:" { for (i=2;i<=NF;i++) if ($i==suite) ok=1 }
      END { if (uri && ok && deb) print uri }' "$f"
  done
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
    awk -v suite="$SUITE" '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1)==suite) print $i }'
}

insecure_key() {
  local k
  for k in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
    [ -f "$k" ] && { cat "$k"; return; }
  done
  die "Vagrant's insecure public key (keys/vagrant.pub) not found: is vagrant installed?"
}

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$BOX_RECIPE" ]; then
  log "box $BOX_NAME ($BOX_RECIPE): already added to Vagrant"
  exit 0
fi

if [ -f "$box_file" ]; then
  log "box: reusing cached $box_file"
else
  mirror=$(apt_mirror | head -n1 || true)
  [ -n "$mirror" ] || die "no Debian $SUITE mirror found in the apt sources"
  log "box: building $BOX_RECIPE from $mirror"
  mkdir -p "$box_dir" "$(dirname "$tarball")"
  if [ ! -f "$tarball" ]; then
    log "box: downloading packages into $tarball"
    scratch=$(mktemp -d /var/tmp/vmapi-debootstrap.XXXXXX)
    debootstrap --variant=minbase --include="$INCLUDE" --make-tarball="$tarball.tmp" "$SUITE" "$scratch" "$mirror" >/dev/null
    rm -rf "$scratch"
    mv "$tarball.tmp" "$tarball"
  fi

  work=$(mktemp -d /var/tmp/vmapi-box.XXXXXX)
  mnt=$work/root
  disk_loop=""
  part_loop=""
  cleanup() {
    mountpoint -q "$mnt" && { umount -R "$mnt" || umount -lR "$mnt"; }
    [ -n "$part_loop" ] && losetup -d "$part_loop" 2>/dev/null
    [ -n "$disk_loop" ] && losetup -d "$disk_loop" 2>/dev/null
    rm -rf "$work"
  }
  trap cleanup EXIT

  # One msdos partition from 1 MiB to the end. The loop driver here does not scan partitions, so the
  # partition gets a loop device of its own at its offset.
  truncate -s "${DISK_GB}G" "$work/disk.raw"
  printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw"
  offset=$((2048 * 512))
  disk_loop=$(losetup -f --show "$work/disk.raw")
  part_loop=$(losetup -f --show -o "$offset" --sizelimit $((DISK_GB * 1024 * 1024 * 1024 - offset)) "$work/disk.raw")
  mkfs.ext4 -q -L root "$part_loop"
  uuid=$(blkid -s UUID -o value "$part_loop")
  mkdir -p "$mnt"
  mount "$part_loop" "$mnt"

  log "box: installing the system"
  debootstrap --variant=minbase --include="$INCLUDE" --unpack-tarball="$tarball" "$SUITE" "$mnt" "$mirror" >/dev/null

  echo debian12 > "$mnt/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian12\n' > "$mnt/etc/hosts"
  printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$uuid" > "$mnt/etc/fstab"
  : > "$mnt/etc/machine-id"
  rm -f "$mnt"/etc/ssh/ssh_host_*

  cat > "$mnt/etc/systemd/network/80-dhcp.network" <<'UNIT'
[Match]
Type=ether

[Network]
DHCP=ipv4

[DHCPv4]
# Same identity whatever the machine-id; keep the lease when shutting down (see build-box.sh).
ClientIdentifier=mac
SendRelease=no
UNIT

  cat > "$mnt/usr/local/sbin/vmapi-growroot" <<'SCRIPT'
#!/bin/sh
# Grows the root partition to the end of its disk and the filesystem to the partition (no-op when done).
set -eu
src=$(findmnt -n -o SOURCE /)
name=$(basename "$(readlink -f "$src")")
disk=/dev/$(basename "$(readlink -f "/sys/class/block/$name/..")")
part=$(cat "/sys/class/block/$name/partition")
rc=0
growpart "$disk" "$part" || rc=$?
[ "$rc" -le 1 ] || exit "$rc" # 1 = NOCHANGE
resize2fs "$src"
SCRIPT
  chmod 755 "$mnt/usr/local/sbin/vmapi-growroot"
  cat > "$mnt/etc/systemd/system/vmapi-growroot.service" <<'UNIT'
[Unit]
Description=Grow the root partition and filesystem to the disk size
After=local-fs.target
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vmapi-growroot

[Install]
WantedBy=multi-user.target
UNIT
  cat > "$mnt/etc/systemd/system/vmapi-ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate this machine's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT

  chroot "$mnt" systemctl enable -q systemd-networkd ssh vmapi-growroot vmapi-ssh-hostkeys
  # Nothing waits for "online": sshd listens on all addresses anyway.
  chroot "$mnt" systemctl mask -q systemd-networkd-wait-online
  chroot "$mnt" useradd --create-home --user-group --shell /bin/bash vagrant
  echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$mnt/etc/sudoers.d/vagrant"
  chmod 0440 "$mnt/etc/sudoers.d/vagrant"
  install -d -m 0700 "$mnt/home/vagrant/.ssh"
  insecure_key > "$mnt/home/vagrant/.ssh/authorized_keys"
  chmod 0600 "$mnt/home/vagrant/.ssh/authorized_keys"
  chroot "$mnt" chown -R vagrant:vagrant /home/vagrant/.ssh
  echo 'UseDNS no' > "$mnt/etc/ssh/sshd_config.d/vagrant.conf"
  rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/*

  # GRUB for BIOS: a core image holding what it needs to read /boot/grub from the first partition, in the
  # gap before it, and GRUB's boot sector in the MBR (keeping the partition table). grub-install and
  # grub-bios-setup both probe devices (partition nodes this loop driver does not create, the disk
  # holding their directory) and fail here; the two images need no probing: boot.img loads sector 1
  # (its default) and the core image's first sector loads the rest from sector 2 (grub-mkimage fills
  # in its length).
  kernel=$(cd "$mnt/boot" && ls vmlinuz-* | sort -V | tail -n1)
  initrd=initrd.img-${kernel#vmlinuz-}
  [ -f "$mnt/boot/$initrd" ] || die "no $initrd in the box"
  mkdir -p "$mnt/boot/grub/i386-pc"
  cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$mnt/boot/grub/i386-pc/"
  cat > "$mnt/boot/grub/grub.cfg" <<CFG
set timeout=0
search --no-floppy --fs-uuid --set=root $uuid
linux /boot/$kernel root=UUID=$uuid ro console=tty0 console=ttyS0,115200 net.ifnames=0 quiet
initrd /boot/$initrd
boot
CFG
  grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
    biosdisk part_msdos ext2 search search_fs_uuid normal linux configfile
  [ "$(stat -c %s "$work/core.img")" -lt $((2047 * 512)) ] || die "GRUB core image does not fit before the partition"

  umount "$mnt"
  losetup -d "$part_loop"; part_loop=""
  losetup -d "$disk_loop"; disk_loop=""
  dd if=/usr/lib/grub/i386-pc/boot.img of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
  dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none

  log "box: packing"
  mkdir -p "$work/box"
  qemu-img convert -c -O qcow2 "$work/disk.raw" "$work/box/box.img"
  printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$DISK_GB" > "$work/box/metadata.json"
  printf "Vagrant.configure('2') do |config|\nend\n" > "$work/box/Vagrantfile"
  tar -C "$work/box" -cf "$box_file.tmp" metadata.json Vagrantfile box.img
  mv "$box_file.tmp" "$box_file"
  log "box: $box_file ($(du -h "$box_file" | cut -f1))"
fi

# vagrant-libvirt uploads a box into the libvirt pool once and reuses that volume by name: drop a copy
# left by another recipe (only possible while libvirtd answers; otherwise there is none to drop).
if command -v virsh >/dev/null && virsh -q version >/dev/null 2>&1; then
  for vol in $(virsh -q vol-list default 2>/dev/null | awk '{print $1}' | grep "^${BOX_NAME//\//-VAGRANTSLASH-}_vagrant_box_image" || true); do
    virsh -q vol-delete --pool default "$vol" >/dev/null
  done
fi
vagrant box add --force --name "$BOX_NAME" "$box_file" >/dev/null
echo "$BOX_RECIPE" > "$marker"
log "box $BOX_NAME ($BOX_RECIPE): added to Vagrant"
