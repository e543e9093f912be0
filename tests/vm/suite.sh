#!/bin/sh
# Guest side of `tests/vm/run.sh suite` (busybox sh): run every test binary
# named in the list file ($1, one absolute path per line), each under a
# timeout, with KTL_REQUIRE_KTLS=1.  Prints each binary's output, then
#   KTLVM: RESULT <binary> rc=<rc>
# and at the end the /proc/net/tls_stat block and
#   KTLVM: DONE passed=<n> failed=<n> skipped=<n>
# where the counts are summed from cmocka's closing lines.

list=${1:-/ktlvm/tests.list}
per=${KTL_VM_TEST_TIMEOUT:-300}
export KTL_REQUIRE_KTLS=1
unset CMOCKA_MESSAGE_OUTPUT CMOCKA_XML_FILE

# Sum the N of every "<tag> N test(s)<tail>" line of cmocka's summary.
# (Not anchored at line start: a buffered stdout chunk may precede it.)
cm_count() { # tag-regex tail-regex file
    sed -n "s/.*\\[  $1 *\\] \\([0-9][0-9]*\\) test(s)$2.*/\\1/p" "$3" |
        awk '{ s += $1 } END { print s + 0 }'
}

P=0 F=0 S=0 n=0 bad=0
echo "KTLVM: SUITE binaries=$(grep -c . "$list") per_binary_timeout=${per}s"
while IFS= read -r bin; do
    [ -n "$bin" ] || continue
    n=$((n + 1))
    name=${bin#/build/}
    log=/tmp/.ktlvm-out.$n
    echo "KTLVM: RUN $name"
    t0=$(cut -d' ' -f1 /proc/uptime)
    { timeout -k 10 "$per" "$bin" </dev/null 2>&1; echo $? >/tmp/.ktlvm-rc; } | tee "$log"
    rc=$(cat /tmp/.ktlvm-rc)
    t1=$(cut -d' ' -f1 /proc/uptime)
    p=$(cm_count PASSED '\.' "$log")
    f=$(cm_count FAILED ', listed below:' "$log")
    s=$(cm_count SKIPPED ', listed below:' "$log")
    P=$((P + p)) F=$((F + f)) S=$((S + s))
    [ "$rc" = 0 ] || bad=$((bad + 1))
    case $rc in 124|137|143) why=" (timeout after ${per}s?)" ;; *) why= ;; esac
    echo "KTLVM: RESULT $name rc=$rc"
    echo "KTLVM: TIME $name $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")s passed=$p failed=$f skipped=$s$why"
    rm -f "$log"
done <"$list"

echo "KTLVM: TLS_STAT BEGIN"
cat /proc/net/tls_stat 2>/dev/null
echo "KTLVM: TLS_STAT END"
echo "KTLVM: BINARIES total=$n nonzero_rc=$bad"
echo "KTLVM: DONE passed=$P failed=$F skipped=$S"
