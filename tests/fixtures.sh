#!/usr/bin/env bash
# tests/fixtures.sh OUTDIR: build every certificate fixture the tests need.
# Good chains come from certs/ktlink-certs.sh; the deliberately broken ones
# are made here with certtool and openssl.  Skips the work when
# OUTDIR/.complete is newer than this script and the generator.
# OUTDIR/README (written below) lists what each directory holds.

set -euo pipefail
umask 022

PROG=fixtures.sh
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename -- "${BASH_SOURCE[0]}")
GEN=$HERE/../certs/ktlink-certs.sh

usage() {
	cat <<'EOF'
Usage: tests/fixtures.sh OUTDIR

Build the certificate fixtures for the tests in OUTDIR (good ECDSA, Ed25519
and RSA chains, a chain from another root, broken nodes under bad/, FISCO
BCOS 2.x and 3.x style node directories).  OUTDIR/README describes them.
Does nothing when OUTDIR/.complete is newer than this script and
certs/ktlink-certs.sh.  Needs certtool (gnutls-bin) and openssl.
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
'') die "OUTDIR: missing argument (see --help)" ;;
-*) die "$1: unknown option (see --help)" ;;
esac
[[ $# -eq 1 ]] || die "$2: unexpected argument (see --help)"

for t in certtool:gnutls-bin openssl:openssl; do
	command -v "${t%%:*}" >/dev/null 2>&1 ||
		die "${t%%:*}: not found (install the Debian package ${t#*:})"
done
[[ -x $GEN ]] || die "$GEN: not found or not executable"

OUT=$1
if [[ -f $OUT/.complete && $OUT/.complete -nt $SELF && $OUT/.complete -nt $GEN ]]; then
	exit 0
fi
if [[ -e $OUT ]]; then
	[[ -d $OUT ]] || die "$OUT: exists and is not a directory"
	# Only ever replace a directory this script made (or an empty one).
	[[ -f $OUT/.ktlink-fixtures || -z $(ls -A -- "$OUT") ]] ||
		die "$OUT: not empty and not a fixtures directory (refusing to replace it)"
fi
mkdir -p -- "$(dirname -- "$OUT")" || die "$OUT: cannot create its parent directory"
ABS=$(cd -- "$(dirname -- "$OUT")" && pwd)/$(basename -- "$OUT")

W=$(mktemp -d "$ABS.tmp.XXXXXX") || die "$OUT: cannot create a temporary directory"
RSA_PID=
cleanup() {
	# let a background generator finish before its directory goes away
	[[ -z $RSA_PID ]] || wait "$RSA_PID" 2>/dev/null || true
	[[ -z $W ]] || rm -rf -- "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers

# Run a command quietly; on failure show its output and stop.
run() { # what cmd...
	local what=$1 log
	shift
	log=$("$@" </dev/null 2>&1) || die "$what: $(printf '%s\n' "$log" | tail -3 | tr '\n' ' ')"
}

d_utc() { date -u -d "$1" '+%Y-%m-%d %H:%M:%S UTC'; }
NOW_M1H=$(d_utc '-1 hour')
IN_10Y=$(d_utc '+10 years')

ec_key() { # out
	run "$1" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$1"
	chmod 600 "$1"
}

# certtool certificate from a template body; issuer "" means self-signed.
cert() { # out key issuer-crt issuer-key template-lines...
	local out=$1 key=$2 icrt=$3 ikey=$4 tmpl
	shift 4
	tmpl=$(mktemp "$W/.tmpl.XXXXXX")
	printf '%s\n' "$@" >"$tmpl"
	if [[ -z $icrt ]]; then
		run "$out" certtool --generate-self-signed --load-privkey "$key" \
			--template "$tmpl" --no-text --outfile "$out"
	else
		run "$out" certtool --generate-certificate --load-privkey "$key" \
			--load-ca-certificate "$icrt" --load-ca-privkey "$ikey" \
			--template "$tmpl" --no-text --outfile "$out"
	fi
	rm -f -- "$tmpl"
}

# Template lines for a node / an agency, with validity FROM..TO.
node_tmpl() { # cn org from to [extra lines]
	printf '%s\n' "dn = \"CN=$1,O=$2,OU=ktlink\"" "activation_date = \"$3\"" \
		"expiration_date = \"$4\"" tls_www_server tls_www_client signing_key "${@:5}"
}
agency_tmpl() { # name from to
	printf '%s\n' "dn = \"CN=$1,O=$1,OU=ktlink\"" "activation_date = \"$2\"" \
		"expiration_date = \"$3\"" ca "path_len = 0" cert_signing_key crl_signing_key
}

# FISCO BCOS node ID of an EC P-256 key: X||Y of the public point.
ec_node_id() { # key
	openssl pkey -in "$1" -pubout -outform DER | tail -c 64 | od -An -tx1 -v | tr -d ' \n'
	echo
}

# Fill a bad node dir: node.key, node.crt (= node cert + CHAIN...), ca.crt = ecdsa root.
bad_node() { # dir node-crt node-key chain-certs...
	local d=$1 crt=$2 key=$3
	shift 3
	mkdir -p -- "$d"
	cat -- "$crt" "$@" >"$d/node.crt"
	cp -- "$key" "$d/node.key"
	chmod 600 "$d/node.key"
	cp -- "$W/ecdsa/ca.crt" "$d/ca.crt"
	ec_node_id "$key" >"$d/node.nodeid"
}

# ---------------------------------------------------------------- good chains

# The RSA chain (RSA-3072 key generation) is the slow part: run it on the
# other core while the rest is made.
(run "rsa chain" "$GEN" --out "$W/rsa" --key-type rsa --crl --quiet) &
RSA_PID=$!
for kt in ecdsa ed25519; do
	run "$kt chain" "$GEN" --out "$W/$kt" --key-type "$kt" --crl --quiet
done
run "other-root chain" "$GEN" --out "$W/other-root" --nodes 1 --crl --quiet

# ecdsa/agency0/revoked.crl: agency0 revokes node1 (agency.crl stays empty).
A=$W/ecdsa/agency0
awk '/BEGIN CERTIFICATE/ { p = 1 } p { print } /END CERTIFICATE/ && p { exit }' \
	"$A/node1/node.crt" >"$W/node1-only.crt"
printf 'crl_next_update = 3650\ncrl_number = 2\n' >"$W/crl.tmpl"
run "ecdsa/agency0/revoked.crl" certtool --generate-crl \
	--load-ca-privkey "$A/agency.key" --load-ca-certificate "$A/agency.crt" \
	--load-certificate "$W/node1-only.crt" --template "$W/crl.tmpl" --no-text \
	--outfile "$A/revoked.crl"
rm -f -- "$W/node1-only.crt" "$W/crl.tmpl"

# ---------------------------------------------------------------- bad nodes

B=$W/bad
K=$B/.keys # CA material and scratch certificates of the bad fixtures
mkdir -p -- "$K"
ROOT_CRT=$W/ecdsa/ca.crt ROOT_KEY=$W/ecdsa/ca.key
AG_CRT=$A/agency.crt AG_KEY=$A/agency.key

# expired-node: validity ended a year ago.
ec_key "$K/expired-node.key"
cert "$K/expired-node.crt" "$K/expired-node.key" "$AG_CRT" "$AG_KEY" \
	"$(node_tmpl expired-node agency0 "$(d_utc '-2 years')" "$(d_utc '-1 year')")"
bad_node "$B/expired-node" "$K/expired-node.crt" "$K/expired-node.key" "$AG_CRT"

# expired-agency: node fine, its agency (agency-exp, under the ecdsa root) expired.
ec_key "$K/agency-exp.key"
cert "$K/agency-exp.crt" "$K/agency-exp.key" "$ROOT_CRT" "$ROOT_KEY" \
	"$(agency_tmpl agency-exp "$(d_utc '-2 years')" "$(d_utc '-1 year')")"
ec_key "$K/expired-agency.key"
cert "$K/expired-agency.crt" "$K/expired-agency.key" "$K/agency-exp.crt" "$K/agency-exp.key" \
	"$(node_tmpl expired-agency agency-exp "$NOW_M1H" "$IN_10Y")"
bad_node "$B/expired-agency" "$K/expired-agency.crt" "$K/expired-agency.key" "$K/agency-exp.crt"

# future-node: not valid until next year.
ec_key "$K/future-node.key"
cert "$K/future-node.crt" "$K/future-node.key" "$AG_CRT" "$AG_KEY" \
	"$(node_tmpl future-node agency0 "$(d_utc '+1 year')" "$(d_utc '+2 years')")"
bad_node "$B/future-node" "$K/future-node.crt" "$K/future-node.key" "$AG_CRT"

# agency-not-ca: agency signed by the root, basicConstraints cA=FALSE but
# keyCertSign set, so that is the only defect.  Made with openssl: certtool
# drops keyCertSign from a non-CA certificate.
ec_key "$K/agency-not-ca.key"
printf '%s\n' '[req]' 'distinguished_name = dn' '[dn]' '[notca]' \
	'basicConstraints = critical, CA:FALSE' 'keyUsage = critical, keyCertSign, cRLSign' \
	'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid' >"$K/notca.cnf"
run "agency-not-ca csr" openssl req -new -key "$K/agency-not-ca.key" -config "$K/notca.cnf" \
	-subj /OU=ktlink/O=agency-not-ca/CN=agency-not-ca -out "$K/agency-not-ca.csr"
run "agency-not-ca" openssl x509 -req -in "$K/agency-not-ca.csr" -CA "$ROOT_CRT" -CAkey "$ROOT_KEY" \
	-set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
	-extfile "$K/notca.cnf" -extensions notca -out "$K/agency-not-ca.crt"
rm -f -- "$K/agency-not-ca.csr"
ec_key "$K/agency-not-ca-node.key"
cert "$K/agency-not-ca-node.crt" "$K/agency-not-ca-node.key" "$K/agency-not-ca.crt" "$K/agency-not-ca.key" \
	"$(node_tmpl agency-not-ca agency-not-ca "$NOW_M1H" "$IN_10Y")"
bad_node "$B/agency-not-ca" "$K/agency-not-ca-node.crt" "$K/agency-not-ca-node.key" "$K/agency-not-ca.crt"

# unknown-agency: an agency named like the real one (CN=agency0,O=agency0)
# but signed by another root; ca.crt is the ecdsa root.
ec_key "$K/unknown-root.key"
cert "$K/unknown-root.crt" "$K/unknown-root.key" "" "" \
	'dn = "CN=ktlink-root"' "activation_date = \"$NOW_M1H\"" "expiration_date = \"$IN_10Y\"" \
	ca cert_signing_key crl_signing_key
ec_key "$K/unknown-agency.key"
cert "$K/unknown-agency.crt" "$K/unknown-agency.key" "$K/unknown-root.crt" "$K/unknown-root.key" \
	"$(agency_tmpl agency0 "$NOW_M1H" "$IN_10Y")"
ec_key "$K/unknown-agency-node.key"
cert "$K/unknown-agency-node.crt" "$K/unknown-agency-node.key" "$K/unknown-agency.crt" "$K/unknown-agency.key" \
	"$(node_tmpl unknown-agency agency0 "$NOW_M1H" "$IN_10Y")"
bad_node "$B/unknown-agency" "$K/unknown-agency-node.crt" "$K/unknown-agency-node.key" "$K/unknown-agency.crt"

# leaf-only: valid node of ecdsa/agency0, node.crt without the agency certificate.
ec_key "$K/leaf-only.key"
cert "$K/leaf-only.crt" "$K/leaf-only.key" "$AG_CRT" "$AG_KEY" \
	"$(node_tmpl leaf-only agency0 "$NOW_M1H" "$IN_10Y")"
bad_node "$B/leaf-only" "$K/leaf-only.crt" "$K/leaf-only.key"

# no-client-usage: extended key usage TLS WWW server only.
ec_key "$K/no-client-usage.key"
cert "$K/no-client-usage.crt" "$K/no-client-usage.key" "$AG_CRT" "$AG_KEY" \
	'dn = "CN=no-client-usage,O=agency0,OU=ktlink"' \
	"activation_date = \"$NOW_M1H\"" "expiration_date = \"$IN_10Y\"" \
	tls_www_server signing_key
bad_node "$B/no-client-usage" "$K/no-client-usage.crt" "$K/no-client-usage.key" "$AG_CRT"

# secp256k1: what FISCO BCOS's own scripts make, an openssl secp256k1 chain
# (root -> agency -> node); GnuTLS 3.7.9 cannot use the curve.
# ca.crt is the ecdsa root like the other bad nodes; the secp256k1 root is
# kept as k1-ca.crt.
S=$B/secp256k1
mkdir -p -- "$S"
k1() { run "$1" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 \
	-pkeyopt ec_param_enc:named_curve -out "$1"; }
k1 "$K/k1-root.key"
k1 "$K/k1-agency.key"
k1 "$S/node.key"
printf '%s\n' '[req]' 'distinguished_name = dn' '[dn]' '[ca]' 'basicConstraints = critical, CA:TRUE' \
	'keyUsage = critical, keyCertSign, cRLSign' 'subjectKeyIdentifier = hash' \
	'authorityKeyIdentifier = keyid' \
	'[agency]' 'basicConstraints = critical, CA:TRUE, pathlen:0' \
	'keyUsage = critical, keyCertSign, cRLSign' 'subjectKeyIdentifier = hash' \
	'authorityKeyIdentifier = keyid' \
	'[node]' 'basicConstraints = critical, CA:FALSE' \
	'keyUsage = critical, digitalSignature' 'extendedKeyUsage = serverAuth, clientAuth' \
	'subjectKeyIdentifier = hash' 'authorityKeyIdentifier = keyid' >"$K/k1.cnf"
run "secp256k1 root" openssl req -x509 -new -key "$K/k1-root.key" -subj /CN=k1-root \
	-days 3650 -sha256 -config "$K/k1.cnf" -extensions ca -set_serial "0x$(openssl rand -hex 16)" -out "$K/k1-root.crt"
k1_sign() { # name key issuer-crt issuer-key section subject out
	run "$1" openssl req -new -key "$2" -subj "$6" -config "$K/k1.cnf" -out "$K/$1.csr"
	run "$1" openssl x509 -req -in "$K/$1.csr" -CA "$3" -CAkey "$4" -set_serial "0x$(openssl rand -hex 16)" \
		-days 3650 -sha256 -extfile "$K/k1.cnf" -extensions "$5" -out "$7"
	rm -f -- "$K/$1.csr"
}
k1_sign k1-agency "$K/k1-agency.key" "$K/k1-root.crt" "$K/k1-root.key" agency \
	/CN=agency0/O=fisco-bcos/OU=agency "$K/k1-agency.crt"
k1_sign k1-node "$S/node.key" "$K/k1-agency.crt" "$K/k1-agency.key" node \
	/CN=node0/O=fisco-bcos/OU=node "$K/k1-node.crt"
cat -- "$K/k1-node.crt" "$K/k1-agency.crt" >"$S/node.crt"
run "secp256k1 sec1 key" openssl ec -in "$S/node.key" -out "$S/node-sec1.key"
chmod 600 "$S/node.key" "$S/node-sec1.key"
cp -- "$ROOT_CRT" "$S/ca.crt"
cp -- "$K/k1-root.crt" "$S/k1-ca.crt"
# secp256k1 node ID, FISCO style: X||Y of the public point.
ec_node_id "$S/node.key" >"$S/node.nodeid"

wait "$RSA_PID" || { RSA_PID=; exit 1; }
RSA_PID=

# ---------------------------------------------------------------- FISCO dirs

id0=$(cat "$A/node0/node.nodeid")
id1=$(cat "$A/node1/node.nodeid")

F2=$W/fisco2
mkdir -p -- "$F2"
cp -p -- "$A/node0/ca.crt" "$A/node0/node.crt" "$A/node0/node.key" "$A/node0/node.nodeid" "$F2/"
cat >"$F2/config.ini" <<EOF
; FISCO BCOS 2.x style node configuration (ktlink test fixture)
[p2p]
    listen_ip=0.0.0.0
    listen_port=30300
    ; nodes to connect
    node.0=127.0.0.1:30300
    node.1=127.0.0.1:30301

[certificate_blacklist]
    ; crl.0 should be nodeid, nodeid's length is 128
    crl.0=$id1

[certificate_whitelist]
    ; cal.0 should be nodeid, nodeid's length is 128
    ;cal.0=

[network_security]
    ; directory the certificates located in
    data_path=$ABS/fisco2/
    ; the node private key file
    key=node.key
    ; the node certificate file
    cert=node.crt
    ; the ca certificate file
    ca_cert=ca.crt
EOF

F3=$W/fisco3
mkdir -p -- "$F3"
cp -p -- "$A/node1/ca.crt" "$F3/ca.crt"
cp -p -- "$A/node1/node.crt" "$F3/ssl.crt"
cp -p -- "$A/node1/node.key" "$F3/ssl.key"
cp -p -- "$A/node1/node.nodeid" "$F3/ssl.nodeid"
cat >"$F3/config.ini" <<EOF
; FISCO BCOS 3.x style node configuration (ktlink test fixture)
[p2p]
    listen_ip=0.0.0.0
    listen_port=30301
    ; ssl or sm ssl
    sm_ssl=false
    nodes_path=./
    nodes_file=nodes.json

[certificate_blacklist]
    ; crl.0 should be nodeid, nodeid's length is 128
    ;crl.0=

[certificate_whitelist]
    ; cal.0 should be nodeid, nodeid's length is 128
    cal.0=$id0

[cert]
    ; directory the certificates located in
    ca_path=$ABS/fisco3
    ; the ca certificate file
    ca_cert=ca.crt
    ; the node private key file
    node_key=ssl.key
    ; the node certificate file
    node_cert=ssl.crt
EOF

# ---------------------------------------------------------------- README

cat >"$W/README" <<'EOF'
ktlink test fixtures, made by tests/fixtures.sh (do not edit; delete the
directory or .complete to rebuild).

Every node directory is a FISCO BCOS 2.x node dir: ca.crt (root),
node.crt (node certificate followed by its agency certificate), node.key
(PKCS#8 PEM), node.nodeid (FISCO node ID in hex).

ecdsa/          P-256 chain: ca.crt ca.key, agency0/{agency.crt,agency.key,
                agency.crl (nothing revoked)}, agency0/node0/, agency0/node1/
ecdsa/agency0/revoked.crl
                CRL from agency0 revoking node1
ed25519/        same layout, Ed25519 keys
rsa/            same layout, RSA-3072 keys
other-root/     a valid P-256 chain under a different root:
                other-root/agency0/node0/ (for "wrong root")

bad/            broken nodes; each ca.crt is the ecdsa root (ecdsa/ca.crt)
  expired-node/     node certificate expired a year ago (agency0 fine)
  expired-agency/   node fine; its agency "agency-exp" (signed by the ecdsa
                    root) expired a year ago
  future-node/      node certificate not valid until next year
  agency-not-ca/    agency signed by the root but basicConstraints cA=FALSE
                    (keyCertSign set); node signed by it
  unknown-agency/   agency named CN=agency0,O=agency0,OU=ktlink but signed by
                    another root (also CN=ktlink-root), node signed by it
  leaf-only/        valid node of ecdsa/agency0, node.crt without the agency
  no-client-usage/  node of ecdsa/agency0 with extended key usage TLS WWW
                    server only
  secp256k1/        openssl-made secp256k1 chain like FISCO BCOS's own tools
                    make: node.key (PKCS#8), node-sec1.key (SEC1 "EC PRIVATE
                    KEY"), node.crt (node + agency), k1-ca.crt (its secp256k1
                    root); GnuTLS 3.7.9 cannot use this curve
  .keys/            CA keys and scratch files of the bad fixtures

fisco2/         FISCO 2.x node dir (copy of ecdsa/agency0/node0) with
                config.ini: [network_security] data_path=<abs>/fisco2/
                key=node.key cert=node.crt ca_cert=ca.crt;
                [certificate_blacklist] crl.0=<node1's node ID>
fisco3/         FISCO 3.x names (copy of ecdsa/agency0/node1): ca.crt ssl.crt
                ssl.key, config.ini: [cert] ca_path=<abs>/fisco3 ca_cert=ca.crt
                node_key=ssl.key node_cert=ssl.crt;
                [certificate_whitelist] cal.0=<node0's node ID>
EOF

# ---------------------------------------------------------------- install

touch "$W/.ktlink-fixtures"
if [[ -e $ABS ]]; then
	rm -rf -- "$ABS"
fi
mv -T -- "$W" "$ABS"
W=
touch "$ABS/.complete"
