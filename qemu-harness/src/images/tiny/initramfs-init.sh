#!/bin/sh
# /init of the tiny test OS's initramfs: load the storage and filesystem modules, assemble and
# open what dracut's arguments name (rd.md.uuid= with mdadm, rd.luks.uuid= with cryptsetup
# asking for the passphrase on the console, rd.lvm.lv= with lvm), find root= (/dev/NAME,
# UUID=… or LABEL=…), mount it (rw or ro, rootfstype=, rootflags=) and switch_root to its
# /sbin/init. On failure it prints `KICKSTAND-INITRAMFS-FAILED reason` and powers off (or
# starts a shell with `rd.shell` on the kernel command line).
#
# Before reading a LUKS passphrase it prints `KICKSTAND-LUKS-PASSPHRASE luks-UUID` on a line
# of its own (a harness waits for it), with the console's echo already off.
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

root="" fstype="" flags="" mode=ro luks="" lvs="" mds=""
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        rd.luks.uuid=*) luks="$luks ${arg#rd.luks.uuid=}" ;;
        rd.lvm.lv=*) lvs="$lvs ${arg#rd.lvm.lv=}" ;;
        rd.md.uuid=*) mds="$mds ${arg#rd.md.uuid=}" ;;
        root=*) root=${arg#root=} ;;
        rootfstype=*) fstype=${arg#rootfstype=} ;;
        rootflags=*) flags=${arg#rootflags=} ;;
        rw) mode=rw ;;
        ro) mode=ro ;;
    esac
done
[ -n "$root" ] || fail "no root= on the kernel command line"
mkdir -p /run/cryptsetup /run/lvm /run/lock/lvm

# Waits up to 60 s (TCG is slow) for `$1` to succeed.
settle() {
    tries=300
    until eval "$1"; do
        tries=$((tries - 1))
        [ $tries -gt 0 ] || return 1
        usleep 200000
    done
}

# Software RAID, as dracut's rd.md.uuid=: wait (up to 60 s) for a member of each array,
# give the others up to 10 s more to appear, then assemble it from the members found —
# degraded (`--run`) when one is missing, so a RAID1 still boots with a disk gone.
# `mdadm --examine --scan --verbose` lists each array once, with num-devices= and devices=.
md_seen() {
    mdadm --examine --scan --verbose 2>/dev/null | awk -v u="$1" '
        /^ARRAY/ { on = 0; for (i = 2; i <= NF; i++) if (tolower($i) == "uuid=" tolower(u)) on = 1
                   for (i = 2; i <= NF; i++) if ($i ~ /^num-devices=/) { split($i, n, "="); want = n[2] } }
        on && !/^ARRAY/ && /devices=/ { sub(/.*devices=/, ""); print gsub(/,/, ",") + 1, want; exit }'
}
for uuid in $mds; do
    settle '[ -n "$(md_seen "$uuid")" ]' ||
        fail "no member of md array $uuid was found (block devices: $(ls /sys/class/block | tr '\n' ' '))"
    tries=50
    while set -- $(md_seen "$uuid"); [ "$1" -lt "$2" ] && [ $tries -gt 0 ]; do
        tries=$((tries - 1))
        usleep 200000
    done
    [ "$1" -lt "$2" ] && echo "initramfs: md array $uuid: $1 of $2 members found, starting it degraded"
    out=$(mdadm --assemble --scan --run --uuid="$uuid" 2>&1) ||
        fail "md array $uuid could not be assembled: $(echo "$out" | tr '\n' ' ') ($(tr '\n' ' ' </proc/mdstat))"
done

# The block device holding the LUKS container with UUID `$1`.
luks_device() {
    for dev in /dev/vd* /dev/sd* /dev/nvme* /dev/md*; do
        [ -b "$dev" ] || continue
        [ "$(cryptsetup luksUUID "$dev" 2>/dev/null)" = "$1" ] && { echo "$dev"; return 0; }
    done
    return 1
}

for name in $luks; do
    uuid=${name#luks-}
    settle "luks_device $uuid >/dev/null" || fail "no LUKS device with UUID $uuid"
    dev=$(luks_device "$uuid")
    opened=false
    for attempt in 1 2 3; do
        stty -echo 2>/dev/null
        echo "KICKSTAND-LUKS-PASSPHRASE luks-$uuid"
        echo "Passphrase for $dev (luks-$uuid):"
        read -r pass
        stty echo 2>/dev/null
        if printf '%s' "$pass" | cryptsetup open --key-file=- "$dev" "luks-$uuid"; then
            opened=true
            break
        fi
        echo "initramfs: wrong passphrase for $dev (attempt $attempt of 3)"
    done
    pass=""
    $opened || fail "cannot open the LUKS container $uuid on $dev"
done

# LVM: activate the volume groups of the named logical volumes.
for lv in $lvs; do
    vg=${lv%%/*}
    settle "lvm vgchange --activate y $vg >/dev/null 2>&1" ||
        fail "volume group $vg could not be activated: $(lvm vgchange --activate y "$vg" 2>&1 | tr '\n' ' ')"
done

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
