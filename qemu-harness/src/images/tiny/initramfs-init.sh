#!/bin/sh
# /init of the tiny test OS's initramfs: load the storage and filesystem modules, find root=
# (/dev/NAME, UUID=… or LABEL=…), mount it (rw or ro, rootfstype=, rootflags=) and switch_root
# to its /sbin/init. On failure it prints `KICKSTAND-INITRAMFS-FAILED reason` and powers off
# (or starts a shell with `rd.shell` on the kernel command line).
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
    echo "KICKSTAND-INITRAMFS-FAILED $*"
    if grep -qw rd.shell /proc/cmdline; then exec setsid cttyhack sh; fi
    poweroff -f
}

kver=$(uname -r)
while read -r module; do
    out=$(insmod "/lib/modules/$kver/$module" 2>&1) || case "$out" in
        *"File exists"*) ;;
        *) echo "initramfs: insmod $module: $out" ;;
    esac
done </etc/modules.order

root="" fstype="" flags="" mode=ro
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        root=*) root=${arg#root=} ;;
        rootfstype=*) fstype=${arg#rootfstype=} ;;
        rootflags=*) flags=${arg#rootflags=} ;;
        rw) mode=rw ;;
        ro) mode=ro ;;
    esac
done
[ -n "$root" ] || fail "no root= on the kernel command line"

# Devices appear while drivers probe: wait up to 60 s (TCG is slow).
tries=300
while :; do
    case "$root" in
        UUID=*|LABEL=*) dev=$(findfs "$root" 2>/dev/null) ;;
        /dev/*) dev=$root; [ -b "$dev" ] || dev="" ;;
        *) fail "root=$root is not supported (use /dev/NAME, UUID= or LABEL=)" ;;
    esac
    [ -n "$dev" ] && break
    tries=$((tries - 1))
    [ $tries -gt 0 ] || fail "root device $root did not appear (block devices: $(ls /sys/class/block | tr '\n' ' '))"
    usleep 200000
done

mkdir -p /sysroot
mount ${fstype:+-t "$fstype"} -o "$mode${flags:+,$flags}" "$dev" /sysroot ||
    fail "cannot mount $dev (root=$root) on /sysroot"
[ -x /sysroot/sbin/init ] || fail "$dev (root=$root) has no /sbin/init"

umount /proc /sys /dev
exec switch_root /sysroot /sbin/init
