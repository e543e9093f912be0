#!/usr/bin/env bash
# Runs the test suite and prints one verdict line.
#   tests/run.sh native   cmocka unit + integration binaries on this kernel, and
#                         the ktlink command end to end (tests/cli/run.sh)
#   tests/run.sh asan     the same, built with AddressSanitizer + UBSan
#   tests/run.sh vm       the integration binaries inside a qemu VM with kTLS
#   tests/run.sh all      all three (what `make test` runs)
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
mode=${1:-all}
total_pass=0 total_fail=0 total_skip=0
failed_parts=()

fixtures() {
  tests/fixtures.sh "$BUILD/fixtures" >/dev/null || { echo "tests: cannot build fixtures in $BUILD/fixtures" >&2; exit 1; }
}

# Runs every test binary under $1; adds cmocka's counts to the totals.
run_binaries() {
  local dir=$1 label=$2 bin out rc p f s
  local pass=0 fail=0 skip=0
  for bin in $(find "$dir/tests/unit" "$dir/tests/integ" -maxdepth 1 -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
    out=$(KTL_FIXTURES="$BUILD/fixtures" timeout -k 10 600 "$bin" 2>&1)
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -1)
    p=${p:-0} f=${f:-0} s=${s:-0}
    # A crash or timeout leaves no closing line: count it as a failure.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
      echo "---- $label $(basename "$bin") (exit $rc)"
      echo "$out" | tail -n 60
    fi
    printf '%-6s %-28s %3d passed, %d failed, %d skipped\n' "$label" "$(basename "$bin")" "$p" "$f" "$s"
    pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
  done
  echo "$label: $pass passed, $fail failed, $skip skipped"
  total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_skip=$((total_skip + skip))
  [ "$fail" -eq 0 ] || failed_parts+=("$label")
  [ "$pass" -gt 0 ] || { echo "$label: no test ran" >&2; failed_parts+=("$label(empty)"); }
}

# The ktlink command as a user runs it (serve/connect, rejections).
run_cli() {
  local out p f
  out=$(timeout -k 10 300 tests/cli/run.sh "$BUILD" 2>&1)
  echo "$out" | grep -E '^(FAIL|cli:)'
  p=$(sed -n 's/^cli: \([0-9]*\) passed.*/\1/p' <<<"$out")
  f=$(sed -n 's/^cli: [0-9]* passed, \([0-9]*\) failed.*/\1/p' <<<"$out")
  p=${p:-0} f=${f:-1}
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
  [ "$f" -eq 0 ] || failed_parts+=(cli)
}

run_native() {
  fixtures
  run_binaries "$BUILD" native
  run_cli
}

run_asan() {
  fixtures
  local abuild="$BUILD/asan"
  make --no-print-directory -s BUILD="$abuild" OPT="-O1 -g -fno-omit-frame-pointer" \
    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" tests >/dev/null \
    || { echo "asan: build failed" >&2; failed_parts+=(asan-build); return; }
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_binaries "$abuild" asan
}

run_vm() {
  fixtures
  local out rc line p f s
  tests/vm/run.sh suite --build "$BUILD"
  rc=$?
  line=$(tail -n 200 "$BUILD/vm/console.log" 2>/dev/null | sed -n 's/.*KTLVM: DONE passed=\([0-9]*\) failed=\([0-9]*\) skipped=\([0-9]*\).*/\1 \2 \3/p' | tail -1)
  if [ "$rc" -eq 3 ]; then
    # Only outside CI (run.sh exits 1 there): loud, but the host tests stand.
    echo "######## vm: kTLS suite NOT RUN (see above); the kernel path is untested ########" >&2
    return
  fi
  read -r p f s <<<"${line:-0 0 0}"
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
  if [ "$rc" -ne 0 ]; then
    failed_parts+=(vm)
    [ "$f" -gt 0 ] || total_fail=$((total_fail + 1))
  fi
}

case "$mode" in
  native) run_native ;;
  asan) run_asan ;;
  vm) run_vm ;;
  all) run_native; run_asan; run_vm ;;
  *) echo "usage: tests/run.sh native|asan|vm|all" >&2; exit 2 ;;
esac

echo
echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
if [ ${#failed_parts[@]} -ne 0 ]; then
  echo "tests: FAILED: ${failed_parts[*]}" >&2
  exit 1
fi
exit 0
