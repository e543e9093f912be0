#!/bin/sh
# /init of the ktlink test VM (busybox sh).  Packed by tests/vm/run.sh.
# Sets up the kernel side (modules, loopback), checks that the "tls" ULP is
# available, then runs the job the host put into /ktlvm/ and powers off.
# Everything the host parses starts with "KTLVM: ".

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TMPDIR=/tmp LANG=C LC_ALL=C
umask 022

ktlvm_off() {
    sync
    poweroff -f
    sleep 5
    echo o >/proc/sysrq-trigger 2>/dev/null
    exit 1
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs -o size=64m,mode=1777 shm /dev/shm
# shellcheck disable=SC1091
. /ktlvm/env.sh
# Anything packed under /tmp (KTL_VM_EXTRA_PATHS) survives the tmpfs mount.
[ -n "$(ls -A /tmp 2>/dev/null)" ] && mv /tmp /.tmp-packed && mkdir -m 1777 /tmp
mount -t tmpfs -o "size=${KTLVM_TMP_SIZE:-600m},mode=1777" tmp /tmp
[ -d /.tmp-packed ] && cp -a /.tmp-packed/. /tmp/ && rm -rf /.tmp-packed
exec </dev/null >/dev/console 2>&1

echo "KTLVM: BOOTED kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)s"

# Host paths -> guest paths (tmpfs on /tmp may hide links made in the cpio,
# so they are made here, after the mounts).
for pair in $KTLVM_LINKS; do
    src=${pair%%=*} dst=${pair#*=}
    [ -e "$src" ] || [ -L "$src" ] && continue
    mkdir -p "$(dirname "$src")" && ln -s "$dst" "$src"
done
mkdir -p "${KTLVM_CWD:-/}" /root

kver=$(uname -r)
if [ ! -s "/lib/modules/$kver/modules.dep" ]; then
    depmod -a "$kver" 2>/dev/null || depmod 2>/dev/null
fi
# One module per call; some are optional (aesni-intel needs a CPU with AES-NI,
# which TCG's "-cpu max" emulates).
for m in tls gcm ccm aesni_intel chacha20poly1305 chacha_x86_64 poly1305_x86_64 \
         chacha_generic poly1305_generic; do
    modprobe "$m" 2>/dev/null || echo "KTLVM: note: modprobe $m failed"
done
ip link set lo up

if ! grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
    echo "KTLVM: no tls ulp (tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null))"
    echo "KTLVM: FATAL no tls ulp"
    ktlvm_off
fi
echo "KTLVM: READY ulp=[$(cat /proc/sys/net/ipv4/tcp_available_ulp)] uptime=$(cut -d' ' -f1 /proc/uptime)s"

cd "${KTLVM_CWD:-/}" || cd /
case "$KTLVM_MODE" in
    suite)
        sh /ktlvm/suite.sh /ktlvm/tests.list
        ;;
    bench|shell-cmd)
        echo "KTLVM: CMD BEGIN"
        sh /ktlvm/job.sh
        rc=$?
        echo "KTLVM: CMD END"
        if [ -n "$KTLVM_OUTFILE" ]; then
            if [ -f "$KTLVM_OUTFILE" ]; then
                echo "KTLVM: FILE BEGIN"
                cat "$KTLVM_OUTFILE"
                echo
                echo "KTLVM: FILE END"
            else
                echo "KTLVM: note: $KTLVM_OUTFILE was not written"
            fi
        fi
        echo "KTLVM: TLS_STAT BEGIN"
        cat /proc/net/tls_stat 2>/dev/null
        echo "KTLVM: TLS_STAT END"
        echo "KTLVM: EXIT rc=$rc"
        ;;
    *)
        echo "KTLVM: FATAL unknown mode '$KTLVM_MODE'"
        ;;
esac
echo "KTLVM: POWEROFF uptime=$(cut -d' ' -f1 /proc/uptime)s"
ktlvm_off
