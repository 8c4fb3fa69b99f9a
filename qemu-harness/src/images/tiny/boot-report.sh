#!/bin/sh
# /sbin/init of Kickstand's tiny test OS. It mounts what /etc/fstab lists, prints one
# machine-readable line on the console describing the installed system, and powers off:
#
#   KICKSTAND-BOOTED hostname=H users=U1,U2 keys=USER:SHA256:FP:ok,... root=DEV rootfs=TYPE
#       fstab=ok|failed mounts=DIR:TYPE,... firmware=UEFI|BIOS unpack=ok|failed:WHAT,...
#       kernel=KVER
#
# `-` stands for "none". keys lists every key of every user's ~/.ssh/authorized_keys with its
# fingerprint (as `ssh-keygen -l` prints it) and `ok` when ~/.ssh is 0700 and authorized_keys
# 0600, both owned by the user, else `bad(.ssh=MODE/UID;authorized_keys=MODE/UID)`.
# unpack checks what the image's layers hold (whiteout, opaque directory, hard link, symlinks,
# device nodes, setuid bit, ownership) so an installer's unpacking is verified at boot.
# `kickstand.noshutdown` on the kernel command line starts a shell instead of powering off.
#
# With KICKSTAND_REPORT=service (the debian image's systemd unit) the system is already up:
# nothing is mounted early, the image's device nodes are not checked (devtmpfs covers /dev
# before anything runs), and the machine keeps running after the report.
export PATH=/usr/sbin:/usr/bin
service=false
[ "${KICKSTAND_REPORT:-}" = service ] && service=true

bad=""
if ! $service; then
    # Device nodes from the image, checked before devtmpfs covers /dev.
    [ "$(stat -c '%F %t:%T' /dev/console 2>/dev/null)" = "character special file 5:1" ] || bad="$bad,dev-console"
    [ "$(stat -c '%F %t:%T' /dev/null 2>/dev/null)" = "character special file 1:3" ] || bad="$bad,dev-null"

    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev 2>/dev/null
    mount -t tmpfs -o mode=0755 tmpfs /run
fi

[ -e /etc/kickstand/removed-by-whiteout ] && bad="$bad,whiteout"
[ "$(ls -A /usr/share/kickstand/opaque 2>/dev/null)" = "new" ] || bad="$bad,opaque"
# The hard link: /sbin/init of the tiny image, a second name of the report in the debian image.
linked=/usr/sbin/init
$service && linked=/usr/lib/kickstand/boot-report.hardlink
[ "$linked" -ef /usr/lib/kickstand/boot-report ] || bad="$bad,hardlink"
[ "$(readlink /var/run)" = "/run" ] || bad="$bad,symlink-absolute"
[ "$(readlink /bin)" = "usr/bin" ] || bad="$bad,symlink-relative"
[ "$(stat -c '%a' /usr/bin/kickstand-setuid 2>/dev/null)" = "4755" ] || bad="$bad,setuid"
[ "$(stat -c '%u:%g' /var/lib/kickstand/owned-by-1234 2>/dev/null)" = "1234:1234" ] || bad="$bad,owner"
unpack=ok
[ -n "$bad" ] && unpack="failed:${bad#,}"

if mount -a 2>/run/fstab.err; then fstab=ok; else fstab=failed; cat /run/fstab.err; fi

hostname=-
if [ -s /etc/hostname ]; then
    hostname=$(cat /etc/hostname)
    hostname "$hostname"
fi

users=$(awk -F: '{ printf "%s%s", sep, $1; sep = "," }' /etc/passwd)

# The fingerprint of a base64 public key blob, as `ssh-keygen -l` shows it.
fingerprint() {
    printf '%s' "SHA256:$(echo "$1" | base64 -d | sha256sum | cut -d' ' -f1 | xxd -r -p | base64 | tr -d '=\n')"
}

keys=""
while IFS=: read -r name _ uid _ _ home _; do
    file="$home/.ssh/authorized_keys"
    [ -f "$file" ] || continue
    dir_perm=$(stat -c '%a/%u' "$home/.ssh")
    file_perm=$(stat -c '%a/%u' "$file")
    if [ "$dir_perm" = "700/$uid" ] && [ "$file_perm" = "600/$uid" ]; then
        perms=ok
    else
        perms="bad(.ssh=$dir_perm;authorized_keys=$file_perm)"
    fi
    # The key blob is the word after the key type (options may come first).
    for blob in $(awk '/^[ \t]*(#|$)/ { next }
                       { for (i = 1; i < NF; i++) if ($i ~ /^(ssh-|ecdsa-|sk-)/) { print $(i + 1); break } }' "$file"); do
        keys="$keys,$name:$(fingerprint "$blob"):$perms"
    done
done </etc/passwd
keys=${keys#,}

root=$(awk '$2 == "/" { dev = $1; fs = $3 } END { print dev " " fs }' /proc/mounts)
mounts=$(awk '$1 !~ /^#/ && $2 ~ /^\// && $2 != "/" && $3 != "swap" { print $2 }' /etc/fstab 2>/dev/null |
    while read -r dir; do
        awk -v d="$dir" '$2 == d { t = $3 } END { printf "%s:%s\n", d, (t == "" ? "unmounted" : t) }' /proc/mounts
    done | awk '{ printf "%s%s", sep, $0; sep = "," }')

firmware=BIOS
[ -d /sys/firmware/efi ] && firmware=UEFI

# The firmware may have left its last line open (SeaBIOS: "Booting from ROM.."): start a new one.
echo
echo "KICKSTAND-BOOTED hostname=$hostname users=${users:--} keys=${keys:--} root=${root% *} rootfs=${root#* } fstab=$fstab mounts=${mounts:--} firmware=$firmware unpack=$unpack kernel=$(uname -r)"

$service && exit 0
if grep -qw kickstand.noshutdown /proc/cmdline; then
    exec setsid cttyhack sh
fi
sync
umount -a -r 2>/dev/null
poweroff -f
