#!/bin/sh
# Builds the root filesystem of Kickstand's debian test image in $TARGET (a new directory).
# Run by qemu-harness (images::debian) inside a private mount namespace (`unshare --mount
# --propagation private`): every mount made here (the chroot's /proc, /sys, /run) disappears
# with the namespace, also when this script fails half-way. Nothing of the host's /dev is
# mounted: debootstrap creates the few device nodes the chroot needs in $TARGET/dev.
#
# Environment (all required):
#   TARGET          the directory to create the root in (must not exist or be empty)
#   MIRROR          the Debian archive (http://deb.debian.org/debian)
#   SECURITY_MIRROR the security archive (http://deb.debian.org/debian-security)
#   SUITE           bookworm
#   KERNEL          the kernel package and version, `linux-image-6.1.0-56-amd64=6.1.192-2`
#   PACKAGES        the packages installed on top of minbase, space-separated
#   MODULES         the kernel modules the image's initramfs carries, space-separated
set -eu
: "${TARGET:?}" "${MIRROR:?}" "${SECURITY_MIRROR:?}" "${SUITE:?}" "${KERNEL:?}" \
    "${PACKAGES:?}" "${MODULES:?}"
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

step() { echo "debian-image: $*" >&2; }

# Mounts of this namespace must never propagate to the host's.
if [ "$(findmnt -no PROPAGATION /)" != "private" ]; then
    echo "debian-image: refusing to run outside a private mount namespace" >&2
    exit 1
fi

step "debootstrap --variant=minbase $SUITE from $MIRROR"
mkdir -p "$TARGET"
debootstrap --variant=minbase --merged-usr "$SUITE" "$TARGET" "$MIRROR" >&2 ||
    { cat "$TARGET/debootstrap/debootstrap.log" >&2 2>/dev/null; exit 1; }

in_root() { chroot "$TARGET" "$@"; }

mount -t proc proc "$TARGET/proc"
mount -t sysfs sysfs "$TARGET/sys"
mount -t tmpfs tmpfs "$TARGET/run"
mkdir -p "$TARGET/run/lock"

# No daemons start in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$TARGET/usr/sbin/policy-rc.d"
chmod 755 "$TARGET/usr/sbin/policy-rc.d"

# Small: no documentation, manual pages or translations from here on (copyrights kept).
cat >"$TARGET/etc/dpkg/dpkg.cfg.d/01-kickstand-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# Nor kernel modules for hardware a test machine does not have (sound, GPUs, cameras, Wi-Fi,
# Bluetooth, InfiniBand, sensors): about half of the kernel's modules.
for dir in sound drivers/gpu drivers/media drivers/net/wireless drivers/infiniband \
    drivers/iio drivers/staging drivers/comedi drivers/bluetooth net/wireless net/mac80211 \
    net/bluetooth; do
    # dpkg knows the kernel's files under /lib (merged /usr is a symlink).
    echo "path-exclude /lib/modules/*/kernel/$dir/*"
done >>"$TARGET/etc/dpkg/dpkg.cfg.d/01-kickstand-nodoc"
cat >"$TARGET/etc/apt/apt.conf.d/01-kickstand" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF

cat >"$TARGET/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF

# The kernel: modules and vmlinuz under /usr/lib/modules/$KVER (the image contract), no
# /vmlinuz symlinks; the initramfs made by initramfs-tools with only the modules listed.
cat >"$TARGET/etc/kernel-img.conf" <<'EOF'
do_symlinks = no
do_bootloader = no
EOF
mkdir -p "$TARGET/etc/initramfs-tools/conf.d"
cat >"$TARGET/etc/initramfs-tools/conf.d/kickstand.conf" <<'EOF'
MODULES=list
COMPRESS=zstd
RESUME=none
EOF
for m in $MODULES; do echo "$m"; done >>"$TARGET/etc/initramfs-tools/modules"

step "installing $PACKAGES $KERNEL"
in_root apt-get update -q >&2
# shellcheck disable=SC2086 # PACKAGES is a word list
in_root apt-get install -q -y $PACKAGES "$KERNEL" >&2

kver=$(ls "$TARGET/usr/lib/modules")
[ "$(echo "$kver" | wc -w)" = 1 ] || { echo "debian-image: expected one kernel, found: $kver" >&2; exit 1; }
step "kernel $kver: vmlinuz and initramfs.img into /usr/lib/modules/$kver"
[ -f "$TARGET/boot/initrd.img-$kver" ] || in_root update-initramfs -c -k "$kver" >&2
mv "$TARGET/boot/vmlinuz-$kver" "$TARGET/usr/lib/modules/$kver/vmlinuz"
mv "$TARGET/boot/initrd.img-$kver" "$TARGET/usr/lib/modules/$kver/initramfs.img"
chmod 644 "$TARGET/usr/lib/modules/$kver/vmlinuz" "$TARGET/usr/lib/modules/$kver/initramfs.img"
rm -f "$TARGET/boot/System.map-$kver" "$TARGET/boot/config-$kver" \
    "$TARGET/vmlinuz" "$TARGET/vmlinuz.old" "$TARGET/initrd.img" "$TARGET/initrd.img.old"

step "configuring systemd units"
# The boot report on the serial console once the system is up (and sshd started); the script
# itself comes in the image's second layer.
cat >"$TARGET/usr/lib/systemd/system/kickstand-boot-report.service" <<'EOF'
[Unit]
Description=Kickstand boot report on the serial console
After=multi-user.target ssh.service
Wants=ssh.service

[Service]
Type=oneshot
Environment=KICKSTAND_REPORT=service
ExecStart=/usr/lib/kickstand/boot-report
StandardOutput=tty
StandardError=journal
TTYPath=/dev/ttyS0

[Install]
WantedBy=default.target
EOF
in_root systemctl enable kickstand-boot-report.service >&2
in_root systemctl enable serial-getty@ttyS0.service >&2
in_root systemctl set-default multi-user.target >&2
# What a TCG boot can do without: time sync, apt and man-db timers, the VT getty; and
# systemd-firstboot, which would prompt on the console for a locale and a root password (the
# installer configures those).
for unit in systemd-firstboot.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
    man-db.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
    getty@tty1.service systemd-pstore.service; do
    in_root systemctl mask "$unit" >&2
done
# Every wired NIC by DHCP unless the installer configures the network; nothing waits for it.
mkdir -p "$TARGET/etc/systemd/network"
printf '[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=yes\n' \
    >"$TARGET/etc/systemd/network/80-kickstand-dhcp.network"
in_root systemctl enable systemd-networkd.service >&2
in_root systemctl mask systemd-networkd-wait-online.service >&2
# The kernel logs to the console; the journal does not repeat itself there.
mkdir -p "$TARGET/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=no\n' >"$TARGET/etc/systemd/journald.conf.d/kickstand.conf"

# Host keys are made on the first boot of each installed machine, never shipped in the image.
rm -f "$TARGET"/etc/ssh/ssh_host_*
cat >"$TARGET/usr/lib/systemd/system/kickstand-ssh-keygen.service" <<'EOF'
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
EOF
in_root systemctl enable kickstand-ssh-keygen.service >&2

# The installer writes these per machine.
: >"$TARGET/etc/hostname"
rm -f "$TARGET/etc/machine-id" "$TARGET/var/lib/dbus/machine-id"
: >"$TARGET/etc/machine-id"
rm -f "$TARGET/etc/fstab"

step "cleaning up"
rm -f "$TARGET/usr/sbin/policy-rc.d"
in_root apt-get clean >&2
rm -rf "$TARGET"/var/lib/apt/lists/* "$TARGET"/var/cache/apt/*.bin \
    "$TARGET"/var/cache/debconf/*-old "$TARGET"/var/lib/dpkg/*-old \
    "$TARGET"/var/log/* "$TARGET/debootstrap"
find "$TARGET/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$TARGET/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$TARGET"/usr/share/man/* "$TARGET"/usr/share/info/* "$TARGET"/usr/share/lintian/*
find "$TARGET/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
find "$TARGET/tmp" "$TARGET/var/tmp" -mindepth 1 -delete
umount "$TARGET/run" "$TARGET/sys" "$TARGET/proc"
step "done: $(du -sh --apparent-size "$TARGET" | cut -f1)"
