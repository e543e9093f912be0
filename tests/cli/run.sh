#!/usr/bin/env bash
# The ktlink command end to end, as a user runs it: a 100 MiB file over
# serve/connect, rejections with their one-line reasons, exit codes.
#   tests/cli/run.sh [BUILD]     prints "cli: N passed, N failed"
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
K=$BUILD/ktlink
FX=$BUILD/fixtures
T=$(mktemp -d /tmp/ktlink-cli.XXXXXX)
pass=0 fail=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

ok() { pass=$((pass + 1)); printf 'ok    %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL  %s: %s\n' "$1" "$2"; }

# Below the ephemeral range (32768+), where the loopback links of earlier
# tests could hold the port.
port=$((10000 + RANDOM % 20000))
next_port() { port=$((port + 1)); }

# Waits until something listens on $1 (IPv4 or the dual-stack IPv6 socket).
wait_listen() {
  local hex i
  hex=$(printf '%04X' "$1")
  for i in $(seq 200); do
    grep -q ":$hex 00000000:0000 0A\|:$hex 00000000000000000000000000000000:0000 0A" \
      /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# serve NAME ARGS...: a server in the background, stdout/stderr to files.
serve() {
  local name=$1; shift
  timeout 60 "$K" serve --port "$port" "$@" <"${SRV_IN:-/dev/null}" >"$T/$name.out" 2>"$T/$name.err" &
  pids+=($!)
  srv_pid=$!
  wait_listen "$port" || { bad "$name" "server never listened: $(head -c 300 "$T/$name.err")"; return 1; }
}

# expect NAME FILE TEXT: FILE holds TEXT.
expect() {
  if grep -qF -- "$3" "$2"; then ok "$1"; else bad "$1" "'$3' not in: $(head -c 400 "$2")"; fi
}

# expect_rc NAME GOT WANT
expect_rc() {
  if [ "$2" -eq "$3" ]; then ok "$1"; else bad "$1" "exit $2, expected $3"; fi
}

N0=$FX/ecdsa/agency0/node0
N1=$FX/ecdsa/agency0/node1

# ---- 100 MiB through serve/connect, byte for byte --------------------------
head -c 100M /dev/urandom >"$T/big"
next_port
if serve big --dir "$N0"; then
  timeout 120 "$K" connect 127.0.0.1 "$port" --dir "$N1" <"$T/big" >"$T/big.back" 2>"$T/big.cerr"
  crc=$?
  wait "$srv_pid"; src=$?
  expect_rc "100MiB: connect exits 0" "$crc" 0
  expect_rc "100MiB: serve exits 0" "$src" 0
  if cmp -s "$T/big" "$T/big.out"; then ok "100MiB: received intact"; else bad "100MiB" "file differs"; fi
fi

# ---- both directions at once ------------------------------------------------
head -c 20M /dev/urandom >"$T/a"; head -c 30M /dev/urandom >"$T/b"
next_port
if SRV_IN=$T/b serve duplex --dir "$N0" --tls 1.2 --cipher chacha20; then
  timeout 60 "$K" connect 127.0.0.1 "$port" --dir "$N1" <"$T/a" >"$T/duplex.back" 2>"$T/duplex.cerr"
  wait "$srv_pid"
  if cmp -s "$T/a" "$T/duplex.out" && cmp -s "$T/b" "$T/duplex.back"; then ok "duplex: both intact"
  else bad "duplex" "data differs"; fi
fi

# ---- rejections: the server names the certificate and the reason -----------
reject() {
  local name=$1 text=$2; shift 2
  next_port
  serve "$name" "${SRV[@]}" || return
  echo data | timeout 20 "$K" connect 127.0.0.1 "$port" "$@" >"$T/$name.back" 2>"$T/$name.cerr"
  local crc=$?
  wait "$srv_pid"; local src=$?
  expect_rc "$name: serve exits 1" "$src" 1
  expect_rc "$name: connect exits 1" "$crc" 1
  expect "$name: reason" "$T/$name.err" "$text"
  if [ -s "$T/$name.out" ]; then bad "$name" "application data crossed a rejected link"; fi
}
SRV=(--dir "$N0")
reject expired "node certificate 'OU=ktlink,O=agency0,CN=expired-node' expired on" --dir "$FX/bad/expired-node"
reject other-root "was issued by another root that is also named 'CN=ktlink-root'" \
  --ca "$N1/ca.crt" --cert "$FX/other-root/agency0/node0/node.crt" --key "$FX/other-root/agency0/node0/node.key"
reject agency-not-ca "is not a CA (CA:FALSE)" --dir "$FX/bad/agency-not-ca"
SRV=(--dir "$N0" --crl "$FX/ecdsa/agency0/revoked.crl")
reject revoked "is revoked by a CRL of" --dir "$N1"
SRV=(--dir "$N0" --deny "$(cat "$N1/node.nodeid")")
reject denied "is on the deny list" --dir "$N1"

# ---- a sender that vanishes: truncation, never a clean end ------------------
next_port
if serve trunc --dir "$N0"; then
  # The sender is killed mid-stream: no close_notify ever leaves it.
  "$K" connect 127.0.0.1 "$port" --dir "$N1" < <(head -c 50M /dev/zero; sleep 30) >/dev/null 2>&1 &
  cpid=$!
  sleep 1
  kill -9 "$cpid"
  wait "$srv_pid"; src=$?
  expect_rc "truncation: serve exits 1" "$src" 1
  expect "truncation: reason" "$T/trunc.err" "without close_notify (truncated)"
fi

# ---- usage and file errors ---------------------------------------------------
"$K" serve --port 70000 --dir "$N0" 2>"$T/port.err"; expect_rc "port 70000: usage exit" $? 2
expect "port 70000: reason" "$T/port.err" "not a port number"
"$K" connect 127.0.0.1 1 --ca /nonexistent --cert "$N1/node.crt" --key "$N1/node.key" 2>"$T/nofile.err"
expect_rc "missing CA: exit" $? 1
expect "missing CA: reason" "$T/nofile.err" "/nonexistent: No such file or directory"
"$K" connect 127.0.0.1 1 --ca "$N1/ca.crt" --cert "$FX/bad/secp256k1/node.crt" \
  --key "$FX/bad/secp256k1/node.key" 2>"$T/k1.err"
expect_rc "secp256k1: exit" $? 1
expect "secp256k1: reason" "$T/k1.err" "secp256k1 is not supported by GnuTLS"
"$K" connect 127.0.0.1 1 --dir "$N1" --allow 1234 2>"$T/id.err"
expect_rc "short node ID: exit" $? 1
expect "short node ID: reason" "$T/id.err" "4 hex characters"
# A key the chosen protocol cannot use: said before listening, not to the first peer.
timeout 10 "$K" serve --port 1 --dir "$FX/ed25519/agency0/node0" --tls 1.2 </dev/null 2>"$T/ed12.err"
expect_rc "Ed25519 with TLS 1.2 only: serve exit" $? 1
expect "Ed25519 with TLS 1.2 only: reason" "$T/ed12.err" "the node key is Ed25519"
if grep -q "listen\|bind\|Permission" "$T/ed12.err"; then bad "Ed25519 with TLS 1.2 only" "got as far as listening"; else ok "Ed25519 with TLS 1.2 only: before listening"; fi
"$K" bogus 2>"$T/cmd.err"; expect_rc "unknown command: exit" $? 2
"$K" info >"$T/info.out" 2>&1; expect_rc "info: exit" $? 0
expect "info: kTLS line" "$T/info.out" "kTLS:"
"$K" certs --out "$T/gen" --nodes 1 --quiet >/dev/null 2>&1
if grep -qE '^[0-9a-f]{128}$' "$T/gen/agency0/node0/node.nodeid"; then ok "certs: 128-hex node ID"
else bad "certs" "no node ID"; fi

# ---- ktlink bench: failures are failures (exit 1), bad options exit 2 -------
BC=$FX/ecdsa
"$K" bench --certs "$BC" --paths uring --links 128 --direction both --time 0.1 --interval 0 \
  >"$T/b128.out" 2>&1
expect_rc "bench 128 links both ways on rings: exit" $? 0
if grep -qE '^uring +[0-9]+\.[0-9]+ ' "$T/b128.out"; then ok "bench 128 links: uring measured"
else bad "bench 128 links" "no uring row: $(tail -5 "$T/b128.out")"; fi
"$K" bench --certs "$BC" --paths openssl --links 2 --direction both --time 0.3 --interval 0 \
  >"$T/bob.out" 2>&1
expect_rc "bench openssl both ways: exit" $? 0
if grep -qE '^openssl +[0-9]+\.[0-9]+ ' "$T/bob.out"; then ok "bench openssl both ways: measured"
else bad "bench openssl both ways" "no openssl row: $(tail -5 "$T/bob.out")"; fi
mkdir -p "$T/bc1/agency0" && cp -r "$BC/agency0/node1" "$T/bc1/agency0/"
"$K" bench --certs "$T/bc1" --paths tcp --time 0.1 >/dev/null 2>"$T/bc1.err"
expect_rc "bench without node0: exit" $? 1
expect "bench without node0: reason" "$T/bc1.err" "no certificates in $T/bc1"
cp -r "$BC" "$T/bc2" && echo garbage >"$T/bc2/agency0/node0/node.key"
"$K" bench --certs "$T/bc2" --paths tcp --time 0.1 >/dev/null 2>"$T/bc2.err"
expect_rc "bench corrupt key: exit" $? 1
expect "bench corrupt key: reason" "$T/bc2.err" "do not make a link: ktlink config from $T/bc2/agency0/node0: key file"
cp -r "$BC" "$T/bc3" && rm -rf "$T/bc3/agency0/node0" && cp -r "$FX/other-root/agency0/node0" "$T/bc3/agency0/"
"$K" bench --certs "$T/bc3" --paths tcp --time 0.1 >/dev/null 2>"$T/bc3.err"
expect_rc "bench foreign root: exit" $? 1
expect "bench foreign root: reason" "$T/bc3.err" "do not make a link"
"$K" bench --certs "$BC" --paths tcp --time 0.1 --json /proc/ktlink.json >"$T/bj.out" 2>"$T/bj.err"
expect_rc "bench --json in /proc: usage exit" $? 2
expect "bench --json in /proc: reason" "$T/bj.err" "--json: cannot write /proc/ktlink.json"
if [ -s "$T/bj.out" ]; then bad "bench --json in /proc" "measured before refusing"; else ok "bench --json in /proc: refused first"; fi
"$K" bench --certs "$BC" --paths tcp --time 0.1 --interval 0 --json /dev/full >/dev/null 2>"$T/bf.err"
expect_rc "bench --json /dev/full: exit" $? 1
expect "bench --json /dev/full: reason" "$T/bf.err" "writing /dev/full: No space left on device"
"$K" bench --plot "$T" 2>"$T/bp.err"
expect_rc "bench --plot DIR: usage exit" $? 2
expect "bench --plot DIR: reason" "$T/bp.err" "does not end in .png"
"$K" bench --paths tcp, 2>"$T/bpe.err"
expect_rc "bench --paths tcp,: usage exit" $? 2
expect "bench --paths tcp,: reason" "$T/bpe.err" "'tcp,' has an empty path name"
"$K" bench --sweep=1k,1k 2>"$T/bsw.err"
expect_rc "bench --sweep twice: usage exit" $? 2
expect "bench --sweep twice: reason" "$T/bsw.err" "size 1024 is listed twice"
(ulimit -n 600; "$K" bench --certs "$BC" --paths tcp --time 0.1 --interval 0 --scale 1000) >"$T/bs.out" 2>&1
expect_rc "bench --scale over the fd limit: exit" $? 1
expect "bench --scale over the fd limit: reason" "$T/bs.out" "--scale 1000: 1000 links need 2256 open files, the hard limit is 600"
# A file name is data: gnuplot gets it quoted, and no shell sees it.
if command -v gnuplot >/dev/null; then
  png="a'b;system(\"touch pwned\");'.png"
  (cd "$T" && "$(realpath "$OLDPWD/$K")" bench --certs "$(realpath "$OLDPWD/$BC")" --paths tcp --sweep 4k,16k \
    --time 0.2 --interval 0.1 --plot "$png") >"$T/bpl.out" 2>&1
  expect_rc "bench --plot odd name: exit" $? 0
  png=$T/$png
  if [ -e "$T/pwned" ]; then bad "bench --plot odd name" "the name ran a command"
  elif [ -s "$png" ] && [ "$(head -c 4 "$png" | od -An -c | tr -d ' ')" = "211PNG" ]; then ok "bench --plot odd name: PNG, nothing run"
  else bad "bench --plot odd name" "no PNG: $(tail -2 "$T/bpl.out")"; fi
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
