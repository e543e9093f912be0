#!/usr/bin/env bash
# ktlink kTLS VM harness: run test binaries inside a qemu VM whose kernel has
# kTLS (Debian's 6.1 kernel, fetched with apt), carry the verdict out.
#
#   tests/vm/run.sh suite     [--build DIR]            kTLS test suite
#   tests/vm/run.sh bench     [--build DIR] [ARGS...]  `ktlink bench ARGS...`
#   tests/vm/run.sh shell-cmd "CMD" [--build DIR]      any command (debug aid)
#   tests/vm/run.sh selftest  [--build DIR]            prove the harness itself
#
# Exit: 0 pass; 1 test failure or VM failure; 2 kernel package not fetchable;
# 3 skipped (qemu missing, CI unset).  With CI=true every VM problem is 1.
# See tests/vm/README.md for the environment variables.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
T_START=$(date +%s.%N)

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-1}"; }
log() { echo "vm: $*" >&2; }
is_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }
# Loud one-line error, then exit (CI=true turns every VM problem into 1).
vm_fail() { # code message
    local code=$1; shift
    echo "VM: $*" >&2
    is_ci && code=1
    exit "$code"
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- arguments ---------------------------------------------------------------
MODE=${1:-}
[ -n "$MODE" ] || usage 1
shift
BUILD=build CMD='' ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        --build) [ $# -ge 2 ] || usage 1; BUILD=$2; shift 2 ;;
        --build=*) BUILD=${1#--build=}; shift ;;
        -h|--help) usage 0 ;;
        --) shift; ARGS+=("$@"); break ;;
        *)
            case $MODE in
                shell-cmd) if [ -z "$CMD" ]; then CMD=$1; shift; else usage 1; fi ;;
                bench) ARGS+=("$@"); break ;;
                *) usage 1 ;;
            esac ;;
    esac
done
case $MODE in
    suite|bench|selftest) ;;
    shell-cmd) [ -n "$CMD" ] || usage 1 ;;
    *) usage 1 ;;
esac
mkdir -p "$BUILD" || vm_fail 1 "cannot create build dir $BUILD"
BUILD=$(cd "$BUILD" && pwd)
VM=$BUILD/vm
mkdir -p "$VM"
# One VM run per build dir at a time (they share $VM/console.log, initrd, ...).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$VM/.lock"
    t0=$(date +%s.%N)
    if ! flock -n 9; then
        log "another VM run is using $VM; waiting for it (up to ${KTL_VM_LOCK_WAIT:-1800}s)"
        flock -w "${KTL_VM_LOCK_WAIT:-1800}" 9 || vm_fail 1 "$VM is locked by another VM run"
        T_LOCK=$(elapsed "$t0")
    fi
fi

QEMU=${KTL_VM_QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null 2>&1 || {
    is_ci && vm_fail 1 "$QEMU not found (install qemu-system-x86)"
    echo "VM: SKIPPED: $QEMU not found (install qemu-system-x86)" >&2
    exit 3
}
for t in cpio gzip ldd; do
    command -v $t >/dev/null 2>&1 || vm_fail 1 "missing host tool: $t"
done
BUSYBOX=${KTL_VM_BUSYBOX:-/bin/busybox}
if ! "$BUSYBOX" --list-full >/dev/null 2>&1 || [[ $(ldd "$BUSYBOX" 2>&1) != *"not a dynamic"* ]]; then
    vm_fail 1 "need a static busybox at $BUSYBOX (apt-get install busybox-static)"
fi

# ---- 1. kernel, cached in $VM/kernel ------------------------------------------
KDIR=$VM/kernel
fetch_kernel() {
    local tmp deb meta dep err
    tmp=$VM/kernel.tmp
    rm -rf "$tmp" && mkdir -p "$tmp/x" || vm_fail 2 "cannot fetch the kernel package: cannot create $tmp"
    if [ -n "${KTL_VM_KERNEL_DEB:-}" ]; then
        deb=$KTL_VM_KERNEL_DEB
        [ -f "$deb" ] || vm_fail 2 "cannot fetch the kernel package: KTL_VM_KERNEL_DEB=$deb not found"
    else
        command -v apt-get >/dev/null || vm_fail 2 "cannot fetch the kernel package: no apt-get"
        dl() { (cd "$tmp" && apt-get download "$1" 2>"$tmp/err" >/dev/null); }
        if ! dl linux-image-amd64; then
            # Package lists may be missing (fresh container): update once if root.
            if [ "$(id -u)" = 0 ]; then
                log "apt-get download failed; running apt-get update once"
                apt-get update >/dev/null 2>&1
            fi
            dl linux-image-amd64 || {
                err=$(grep -E '^(E|Err):' "$tmp/err" | head -1)
                vm_fail 2 "cannot fetch the kernel package: linux-image-amd64: ${err:-$(tail -1 "$tmp/err")}"
            }
        fi
        meta=$(ls "$tmp"/linux-image-amd64_*.deb)
        dep=$(dpkg-deb -f "$meta" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' |
              grep -m1 -E '^linux-image-[0-9].*-amd64(-unsigned)?$')
        [ -n "$dep" ] || vm_fail 2 "cannot fetch the kernel package: no linux-image-N-amd64 in Depends of $(basename "$meta")"
        log "fetching $dep"
        dl "$dep" || {
            err=$(grep -E '^(E|Err):' "$tmp/err" | head -1)
            vm_fail 2 "cannot fetch the kernel package: $dep: ${err:-$(tail -1 "$tmp/err")}"
        }
        deb=$(ls "$tmp"/"$dep"_*.deb)
    fi
    dpkg -x "$deb" "$tmp/x" || vm_fail 2 "cannot fetch the kernel package: dpkg -x $deb failed"
    local vmlinuz kver mdir
    vmlinuz=$(ls "$tmp"/x/boot/vmlinuz-* 2>/dev/null | head -1)
    [ -n "$vmlinuz" ] || vm_fail 2 "cannot fetch the kernel package: no boot/vmlinuz-* in $deb"
    kver=${vmlinuz##*/vmlinuz-}
    mdir=$(ls -d "$tmp"/x/lib/modules/"$kver" "$tmp"/x/usr/lib/modules/"$kver" 2>/dev/null | head -1)
    [ -f "$mdir/kernel/net/tls/tls.ko" ] ||
        vm_fail 2 "cannot fetch the kernel package: $deb has no kernel/net/tls/tls.ko (CONFIG_TLS=m needed)"
    # Keep only what the initramfs needs (about 15 MB instead of 400 MB).
    rm -rf "$KDIR" && mkdir -p "$KDIR/modules/$kver/kernel/arch/x86" "$KDIR/modules/$kver/kernel/net"
    cp "$vmlinuz" "$KDIR/vmlinuz"
    cp "$tmp"/x/boot/config-"$kver" "$KDIR/config" 2>/dev/null
    cp -a "$mdir"/modules.order "$mdir"/modules.builtin* "$KDIR/modules/$kver/"
    cp -a "$mdir/kernel/net/tls" "$KDIR/modules/$kver/kernel/net/"
    cp -a "$mdir/kernel/crypto" "$mdir/kernel/lib" "$KDIR/modules/$kver/kernel/"
    cp -a "$mdir/kernel/arch/x86/crypto" "$KDIR/modules/$kver/kernel/arch/x86/"
    echo "$kver" >"$KDIR/VERSION"
    basename "$deb" >"$KDIR/SOURCE"
    rm -rf "$tmp"
    log "kernel $kver cached in $KDIR"
}
t0=$(date +%s.%N)
if [ ! -s "$KDIR/VERSION" ] || [ ! -s "$KDIR/vmlinuz" ]; then
    fetch_kernel
    T_KERNEL=$(elapsed "$t0")
fi
KVER=$(cat "$KDIR/VERSION")
# The bzImage is xz-compressed and decompressing it under TCG costs ~6 s per
# boot; the kernel has CONFIG_PVH=y, so qemu can boot the plain ELF vmlinux.
# Unpack it once (falls back to vmlinuz if anything here does not work).
KIMAGE=$KDIR/vmlinuz
if [ "${KTL_VM_PVH:-1}" = 1 ]; then
    if [ ! -s "$KDIR/vmlinux" ] && grep -q '^CONFIG_PVH=y' "$KDIR/config" 2>/dev/null && command -v xz >/dev/null; then
        off=$(grep -abo $'\xfd7zXZ\x00' "$KDIR/vmlinuz" 2>/dev/null | head -1 | cut -d: -f1)
        if [ -n "$off" ]; then
            tail -c +$((off + 1)) "$KDIR/vmlinuz" | xz -dc 2>/dev/null >"$KDIR/vmlinux.tmp"
            if [ "$(head -c 4 "$KDIR/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
                mv "$KDIR/vmlinux.tmp" "$KDIR/vmlinux"
            fi
        fi
        rm -f "$KDIR/vmlinux.tmp"
    fi
    [ -s "$KDIR/vmlinux" ] && KIMAGE=$KDIR/vmlinux
fi

# ---- 2. initramfs -------------------------------------------------------------
# Copy FILE into TREE at the same absolute path (resolved through merged-/usr
# symlinks), plus every shared library ldd names for it, incl. the loader.
# Libraries already present in $2 (a second tree, e.g. the cached base) are skipped.
put_file() { # tree file   (symlinks are recreated, then their target copied)
    local tree=$1 f=$2 d n t
    d=$(readlink -f "$(dirname "$f")")
    n=$d/$(basename "$f")
    mkdir -p "$tree$d"
    if [ -L "$n" ]; then
        t=$(readlink "$n")
        [ -L "$tree$n" ] || [ -e "$tree$n" ] || ln -s "$t" "$tree$n"
        case $t in /*) ;; *) t=$d/$t ;; esac
        put_file "$tree" "$t"
    elif [ ! -e "$tree$n" ]; then
        cp "$n" "$tree$n"
    fi
}
put_with_libs() { # tree skip-tree self(0|1) file...   (self=0: libraries only)
    local tree=$1 skip=$2 self=$3 f lib real
    shift 3
    for f in "$@"; do
        [ "$self" = 1 ] && put_file "$tree" "$f"
        while read -r lib; do
            real=$(readlink -f "$(dirname "$lib")")/$(basename "$lib")
            [ -e "$skip$real" ] || [ -L "$skip$real" ] || put_file "$tree" "$lib"
        done < <(ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
    done
}
mkcpio() { # tree out.gz level
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip "-$3" >"$2"
}

BASE_TREE=$VM/base
BASE_CPIO=$VM/base.cpio.gz
GNUTLS_TOOLS=()
for t in gnutls-serv gnutls-cli certtool; do
    p=$(command -v "$t" 2>/dev/null) && GNUTLS_TOOLS+=("$p") || log "warning: $t not found on the host (apt-get install gnutls-bin)"
done
base_key() {
    {
        echo "format 4 $KVER"
        dpkg-query -W busybox-static libc6 libgnutls30 gnutls-bin libnettle8 2>/dev/null
        ls -l --time-style=+%s "$BUSYBOX" "${GNUTLS_TOOLS[@]}" 2>/dev/null
    } | md5sum | cut -d' ' -f1
}
build_base() {
    local t=$BASE_TREE d a
    rm -rf "$t" && mkdir -p "$t"/{usr/bin,usr/sbin,usr/lib,usr/lib64,bin,sbin,dev,proc,sys,tmp,root,etc,run,ktlvm}
    # merged /usr like the host (Debian 12), so ldd's /lib paths resolve
    ln -s usr/lib "$t/lib"
    ln -s usr/lib64 "$t/lib64"
    cp "$BUSYBOX" "$t/bin/busybox"
    while read -r a; do
        [ "$a" = bin/busybox ] && continue
        d=$t/$a
        mkdir -p "$(dirname "$d")"
        [ -e "$d" ] || ln -s /bin/busybox "$d"
    done < <("$BUSYBOX" --list-full)
    mkdir -p "$t/usr/lib/modules"
    cp -a "$KDIR/modules/$KVER" "$t/usr/lib/modules/"
    if command -v depmod >/dev/null 2>&1 || [ -x /usr/sbin/depmod ]; then
        PATH=$PATH:/usr/sbin:/sbin depmod -b "$t/usr" "$KVER" 2>/dev/null ||
            PATH=$PATH:/usr/sbin:/sbin depmod -b "$t" "$KVER" 2>/dev/null || true
    fi
    [ ${#GNUTLS_TOOLS[@]} -gt 0 ] && put_with_libs "$t" /nonexistent 1 "${GNUTLS_TOOLS[@]}"
    # Minimal /etc: name resolution for "localhost" (nss files is in libc 2.36).
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$t/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$t/etc/group"
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$t/etc/hosts"
    printf 'passwd: files\ngroup: files\nhosts: files\n' >"$t/etc/nsswitch.conf"
    : >"$t/etc/resolv.conf"
    mknod -m 600 "$t/dev/console" c 5 1 2>/dev/null || true
    mknod -m 666 "$t/dev/null" c 1 3 2>/dev/null || true
    mkcpio "$t" "$BASE_CPIO" 6
    base_key >"$VM/base.key"
}
t0=$(date +%s.%N)
if [ ! -s "$BASE_CPIO" ] || [ ! -d "$BASE_TREE" ] || [ "$(cat "$VM/base.key" 2>/dev/null)" != "$(base_key)" ]; then
    log "building the cached base initramfs (busybox, modules, GnuTLS tools, libs)"
    build_base
    T_BASE=$(elapsed "$t0")
fi

# Selftest binaries (tests/vm/selftest/*.c) go to $BUILD/vm/selftest/.
build_selftest() {
    local cc=${CC:-cc} out=$VM/selftest src=$HERE/selftest
    mkdir -p "$out"
    $cc -O1 -Wall -o "$out/ulp_probe" "$src/ulp_probe.c" || vm_fail 1 "selftest: cannot build ulp_probe"
    for b in test_vm_pass test_vm_fail; do
        $cc -O1 -Wall -o "$out/$b" "$src/$b.c" -lcmocka || vm_fail 1 "selftest: cannot build $b (libcmocka-dev?)"
    done
    mkdir -p "$BUILD/fixtures"
    [ -f "$BUILD/fixtures/selftest.txt" ] || echo "fixture visible" >"$BUILD/fixtures/selftest.txt"
}
[ "$MODE" = selftest ] && build_selftest

# bench: a demo certificate chain for `ktlink bench --certs`.
if [ "$MODE" = bench ] && [ -x "$REPO/certs/ktlink-certs.sh" ] && [ -x "$BUILD/ktlink" ]; then
    "$REPO/certs/ktlink-certs.sh" --out "$BUILD/certs" --if-missing >/dev/null ||
        log "warning: certs/ktlink-certs.sh --out $BUILD/certs failed"
fi

# Per-run part: /init, the job, the build's binaries and data (+ their libs).
t0=$(date +%s.%N)
RUN_TREE=$VM/run
rm -rf "$RUN_TREE" && mkdir -p "$RUN_TREE/ktlvm" "$RUN_TREE/build"
cp "$HERE/init.sh" "$RUN_TREE/init" && chmod 755 "$RUN_TREE/init"
cp "$HERE/suite.sh" "$RUN_TREE/ktlvm/suite.sh"

BINS=()
if [ -d "$BUILD/tests" ]; then
    while IFS= read -r f; do
        [ -n "$f" ] && BINS+=("$f")
    done < <(find "$BUILD/tests" -type f -perm -u+x | LC_ALL=C sort)
fi
[ -x "$BUILD/ktlink" ] && BINS+=("$BUILD/ktlink")
[ "$MODE" = selftest ] && BINS+=("$VM/selftest/ulp_probe" "$VM/selftest/test_vm_pass" "$VM/selftest/test_vm_fail")
EXTRA_BINS=()
for f in ${KTL_VM_EXTRA_BINS:-}; do
    p=$(command -v "$f" 2>/dev/null) && EXTRA_BINS+=("$p") || log "warning: KTL_VM_EXTRA_BINS: $f not found"
done
for f in "${BINS[@]}"; do
    rel=${f#"$BUILD"/}
    mkdir -p "$RUN_TREE/build/$(dirname "$rel")"
    cp -p "$f" "$RUN_TREE/build/$rel"
done
# The binaries themselves are under /build only; their libraries, and the
# extra programs with theirs, go to the same absolute path as on the host.
[ ${#BINS[@]} -gt 0 ] && put_with_libs "$RUN_TREE" "$BASE_TREE" 0 "${BINS[@]}"
[ ${#EXTRA_BINS[@]} -gt 0 ] && put_with_libs "$RUN_TREE" "$BASE_TREE" 1 "${EXTRA_BINS[@]}"
for d in fixtures certs; do
    [ -d "$BUILD/$d" ] && cp -a "$BUILD/$d" "$RUN_TREE/build/"
done
[ -d "$BUILD/fixtures" ] || log "note: $BUILD/fixtures does not exist (tests/fixtures.sh not run?)"
for p in ${KTL_VM_EXTRA_PATHS:-}; do   # extra host paths, same absolute path in the guest
    p=$(readlink -f "$p") && [ -e "$p" ] && mkdir -p "$RUN_TREE$(dirname "$p")" && cp -a "$p" "$RUN_TREE$p"
    # A program (perf, strace) brings its libraries along.
    [ -f "$p" ] && [ -x "$p" ] && put_with_libs "$RUN_TREE" "$BASE_TREE" 0 "$p"
done

q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
# Host paths that tests may use, made symlinks to /build in the guest; tests run
# with the host's cwd (relative "build/..." paths then work too).
CWD_HOST=$(pwd)
LINKS=
[ "$BUILD" != /build ] && LINKS="$BUILD=/build"
{
    gmode=$MODE; [ "$MODE" = selftest ] && gmode=suite
    echo "export KTLVM_MODE=$(q "$gmode")"
    echo "export KTLVM_CWD=$(q "$CWD_HOST")"
    echo "export KTLVM_LINKS=$(q "$LINKS")"
    echo "export KTLVM_TMP_SIZE=$(q "${KTL_VM_TMP_SIZE:-600m}")"
    echo "export KTL_VM_TEST_TIMEOUT=$(q "${KTL_VM_TEST_TIMEOUT:-300}")"
    echo "export KTL_BUILD=/build KTL_FIXTURES=/build/fixtures KTL_CERTS=/build/certs"
    echo "export KTL_IN_VM=1 KTL_REQUIRE_KTLS=1"
    for v in ${KTL_VM_PASS_ENV:-}; do
        [ -n "${!v+x}" ] && echo "export $v=$(q "${!v}")"
    done
} >"$RUN_TREE/ktlvm/env.sh"

OUTFILE_HOST=
case $MODE in
    suite|selftest)
        : >"$RUN_TREE/ktlvm/tests.list"
        for f in "${BINS[@]}"; do
            rel=${f#"$BUILD"/}
            name=${f##*/}
            if [ "$MODE" = selftest ]; then
                [[ $rel == vm/selftest/* ]] || continue
            else
                case $rel in
                    tests/*/test_ktls*|tests/test_ktls*|tests/integ/*) ;;
                    *) continue ;;
                esac
                # optional filter: KTL_VM_TESTS="glob glob ..." on the binary name
                if [ -n "${KTL_VM_TESTS:-}" ]; then
                    ok=0
                    set -f
                    # shellcheck disable=SC2053  # $g is a glob on purpose
                    for g in $KTL_VM_TESTS; do [[ $name == $g ]] && ok=1; done
                    set +f
                    [ $ok = 1 ] || continue
                fi
            fi
            echo "/build/$rel" >>"$RUN_TREE/ktlvm/tests.list"
        done
        NTESTS=$(grep -c . "$RUN_TREE/ktlvm/tests.list")
        [ "$NTESTS" -gt 0 ] || vm_fail 1 "no kTLS test binaries (tests/*/test_ktls*, tests/integ/*) under $BUILD/tests — build first (make tests)"
        ;;
    bench)
        [ -x "$BUILD/ktlink" ] || vm_fail 1 "$BUILD/ktlink not built (make tools)"
        bargs=("bench")
        have_certs=0
        i=0
        while [ $i -lt ${#ARGS[@]} ]; do
            a=${ARGS[$i]}
            case $a in
                --certs|--certs=*) have_certs=1 ;;
            esac
            if [ "$a" = --json ] && [ $((i + 1)) -lt ${#ARGS[@]} ]; then
                OUTFILE_HOST=${ARGS[$((i + 1))]}
                bargs+=(--json /tmp/ktlvm-bench.json)
                i=$((i + 2)); continue
            elif [[ $a == --json=* ]]; then
                OUTFILE_HOST=${a#--json=}
                bargs+=(--json=/tmp/ktlvm-bench.json)
                i=$((i + 1)); continue
            fi
            bargs+=("$a")
            i=$((i + 1))
        done
        [ $have_certs = 0 ] && [ -d "$BUILD/certs" ] && bargs=(bench --certs /build/certs "${bargs[@]:1}")
        {
            printf '/build/ktlink'
            for a in "${bargs[@]}"; do printf ' %s' "$(q "$a")"; done
            echo
        } >"$RUN_TREE/ktlvm/job.sh"
        [ -n "$OUTFILE_HOST" ] && echo "export KTLVM_OUTFILE=/tmp/ktlvm-bench.json" >>"$RUN_TREE/ktlvm/env.sh"
        ;;
    shell-cmd)
        printf '%s\n' "$CMD" >"$RUN_TREE/ktlvm/job.sh"
        ;;
esac

RUN_CPIO=$VM/run.cpio.gz
INITRD=$VM/initrd.img
mkcpio "$RUN_TREE" "$RUN_CPIO" 1
cat "$BASE_CPIO" "$RUN_CPIO" >"$INITRD"
T_INITRD=$(elapsed "$t0")

# ---- 4. qemu ------------------------------------------------------------------
ACCEL=${KTL_VM_ACCEL:-tcg}
case $ACCEL in
    kvm) ACCEL_ARGS=(-accel kvm -cpu "${KTL_VM_CPU:-host}") ;;
    tcg) ACCEL_ARGS=(-accel tcg -cpu "${KTL_VM_CPU:-max}") ;;
    *) vm_fail 1 "KTL_VM_ACCEL=$ACCEL: use tcg or kvm" ;;
esac
VM_TIMEOUT=${KTL_VM_TIMEOUT:-900}
LOGF=$VM/console.log
QUIET=${KTL_VM_QUIET:-0}
log "booting $KVER ($ACCEL, ${KIMAGE##*/}, initrd $(du -h "$INITRD" | cut -f1), timeout ${VM_TIMEOUT}s); console -> $LOGF"
t0=$(date +%s.%N)
# qemu runs in its own process group (under timeout): stop it if we are stopped.
rm -f "$VM/qemu.pid"
kill_qemu() {
    local pid
    pid=$(cat "$VM/qemu.pid" 2>/dev/null) && [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -f "$VM/qemu.pid"
}
trap 'kill_qemu; echo "VM: interrupted" >&2; exit 130' INT TERM HUP
# shellcheck disable=SC2086
timeout -k 10 "$VM_TIMEOUT" "$QEMU" "${ACCEL_ARGS[@]}" -m "${KTL_VM_MEM:-2048}" -smp "${KTL_VM_SMP:-2}" \
    -kernel "$KIMAGE" -initrd "$INITRD" \
    -append "console=ttyS0 quiet panic=-1 oops=panic ${KTL_VM_APPEND:-}" \
    -nographic -no-reboot -nic none -pidfile "$VM/qemu.pid" ${KTL_VM_QEMU_ARGS:-} </dev/null 2>&1 |
    sed -u 's/\r$//; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$LOGF" |
    if [ "$QUIET" = 1 ]; then grep --line-buffered -E 'KTLVM:|^\[  (PASSED|FAILED|SKIPPED) ' || true; else cat; fi
QRC=${PIPESTATUS[0]}
trap - INT TERM HUP
kill_qemu
T_VM=$(elapsed "$t0")

boot_s=$(sed -n 's/^KTLVM: READY .*uptime=\([0-9.]*\)s.*/\1/p' "$LOGF" | head -1)
timing() {
    echo "vm: timing: ${T_LOCK:+waited ${T_LOCK}s for the lock, }kernel fetch ${T_KERNEL:-cached}${T_KERNEL:+s}, base initrd ${T_BASE:-cached}${T_BASE:+s}," \
         "run initrd ${T_INITRD}s, guest ready at ${boot_s:-?}s uptime, qemu ${T_VM}s, total $(elapsed "$T_START")s"
}
tls_stat() {
    sed -n '/^KTLVM: TLS_STAT BEGIN/,/^KTLVM: TLS_STAT END/p' "$LOGF"
}
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
    timing
    vm_fail 1 "VM timed out after ${VM_TIMEOUT}s (KTL_VM_TIMEOUT); console log: $LOGF"
fi
if grep -aq '^KTLVM: FATAL' "$LOGF"; then
    timing
    vm_fail 1 "$(grep -a '^KTLVM: FATAL ' "$LOGF" | sed 's/^KTLVM: FATAL //' | head -1) (console log: $LOGF)"
fi
if ! grep -aq '^KTLVM: READY' "$LOGF"; then
    timing
    vm_fail 1 "the VM never became ready (qemu rc=$QRC; kernel panic or boot failure?); console log: $LOGF"
fi

# ---- verdict -------------------------------------------------------------------
case $MODE in
    bench|shell-cmd)
        timing
        if [ -n "$OUTFILE_HOST" ]; then
            if grep -aq '^KTLVM: FILE END' "$LOGF"; then
                mkdir -p "$(dirname "$OUTFILE_HOST")"
                sed -n '/^KTLVM: FILE BEGIN/,/^KTLVM: FILE END/{/^KTLVM: FILE /d;p}' "$LOGF" >"$OUTFILE_HOST"
                log "wrote $OUTFILE_HOST"
            else
                log "warning: the guest did not produce the --json file"
            fi
        fi
        rc=$(sed -n 's/^KTLVM: EXIT rc=\([0-9]*\).*/\1/p' "$LOGF" | tail -1)
        [ -n "$rc" ] || vm_fail 1 "the VM never printed its EXIT line (qemu rc=$QRC); console log: $LOGF"
        echo "vm: $MODE exit status $rc"
        [ "$rc" = 0 ] && exit 0 || exit 1
        ;;
esac

done_line=$(grep -a '^KTLVM: DONE ' "$LOGF" | tail -1)
if [ -z "$done_line" ]; then
    timing
    vm_fail 1 "the VM never printed DONE (qemu rc=$QRC; crash or hang?); console log: $LOGF"
fi
P=$(sed -n 's/.*passed=\([0-9]*\).*/\1/p' <<<"$done_line")
F=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$done_line")
S=$(sed -n 's/.*skipped=\([0-9]*\).*/\1/p' <<<"$done_line")
NRES=$(grep -ac '^KTLVM: RESULT ' "$LOGF")
BADRES=$(grep -a '^KTLVM: RESULT ' "$LOGF" | grep -av ' rc=0$' | sed 's/^KTLVM: RESULT //')

echo
echo "vm: ---- results ($NRES binaries) ----"
grep -a '^KTLVM: RESULT ' "$LOGF" | sed 's/^KTLVM: RESULT /vm:   /'
[ "$QUIET" = 1 ] && tls_stat   # streamed already unless quiet
timing

if [ "$MODE" = selftest ]; then
    # Expected: probe and pass binary rc=0, fail binary rc!=0, one cmocka failure.
    ok=1
    grep -aq '^KTLVM: RESULT vm/selftest/ulp_probe rc=0$' "$LOGF" || { echo "vm: selftest: ulp_probe did not succeed"; ok=0; }
    grep -aq '^KTLVM: RESULT vm/selftest/test_vm_pass rc=0$' "$LOGF" || { echo "vm: selftest: test_vm_pass did not pass"; ok=0; }
    grep -aEq '^KTLVM: RESULT vm/selftest/test_vm_fail rc=[1-9]' "$LOGF" || { echo "vm: selftest: test_vm_fail was not reported as failing"; ok=0; }
    [ "$F" = 1 ] || { echo "vm: selftest: expected failed=1, got $F"; ok=0; }
    [ "${P:-0}" -ge 3 ] || { echo "vm: selftest: expected passed>=3, got $P"; ok=0; }
    grep -aq 'TlsTxSw' "$LOGF" || { echo "vm: selftest: no tls_stat block"; ok=0; }
    echo "vm: $P passed, $F failed, $S skipped"
    if [ $ok = 1 ]; then echo "vm: selftest OK (the failure above is the expected one)"; exit 0; fi
    echo "vm: selftest FAILED"; exit 1
fi

echo "vm: $P passed, $F failed, $S skipped"
if [ "$NRES" != "$NTESTS" ]; then
    echo "VM: only $NRES of $NTESTS test binaries reported a result" >&2
    exit 1
fi
if [ -n "$BADRES" ]; then
    echo "VM: non-zero exit: $(tr '\n' ' ' <<<"$BADRES")" >&2
    exit 1
fi
if [ "$F" != 0 ] || [ "${P:-0}" -le 0 ]; then
    [ "${P:-0}" -le 0 ] && echo "VM: no test passed" >&2
    exit 1
fi
exit 0
