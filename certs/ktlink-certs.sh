#!/usr/bin/env bash
# ktlink-certs: generate a FISCO BCOS style certificate layout
# (root CA -> agency CAs -> nodes) with GnuTLS certtool, and maintain the
# agencies' CRLs.  Run with --help for usage.

set -euo pipefail
umask 077

PROG=${KTLINK_CERTS_PROG:-ktlink-certs}

usage() {
	echo "Usage: ${KTLINK_CERTS_PROG:-ktlink-certs} [options]"
	cat <<EOF

Generate a FISCO BCOS style certificate layout: one root CA, one or more
agencies (intermediate CAs signed by the root) and N nodes per agency.
Needs certtool (Debian package gnutls-bin) and openssl (package openssl).

  --out DIR            output directory (default ./nodes); must not exist yet,
                       or be empty
  --agencies N         number of agencies, named agency0..agency(N-1) (default 1)
  --agency NAME        an agency by name (repeatable; instead of --agencies)
  --nodes N            nodes per agency (default 2)
  --key-type TYPE      ecdsa (P-256, default), ed25519 or rsa (RSA-3072)
  --days N             validity of every certificate and CRL (default 3650)
  --crl                write an (empty) CRL per agency: DIR/AGENCY/agency.crl
  --revoke AGENCY/NODE revoke that node in its agency's CRL (repeatable;
                       implies --crl). On an existing DIR only the CRLs change.
  --if-missing         do nothing (exit 0) when DIR/ca.crt already exists
  --quiet              print nothing but errors
  -h, --help           show this help

Layout:
  DIR/ca.crt DIR/ca.key                    root certificate and key
  DIR/AGENCY/agency.crt DIR/AGENCY/agency.key
  DIR/AGENCY/agency.crl                    with --crl or --revoke
  DIR/AGENCY/revoked.pem                   certificates revoked so far
  DIR/AGENCY/NODE/ca.crt                   copy of the root certificate
  DIR/AGENCY/NODE/node.key                 node private key (PKCS#8, 0600)
  DIR/AGENCY/NODE/node.crt                 node certificate + agency certificate
  DIR/AGENCY/NODE/node.nodeid              FISCO BCOS node ID (hex)

For each node one line "AGENCY/NODE NODEID" is printed on stdout.
Node ID: EC P-256 -> X||Y of the public point (128 hex chars);
Ed25519 -> the raw public key (64); RSA -> SHA-256 of the DER
SubjectPublicKeyInfo (64).

Examples:
  $PROG --out nodes --agencies 2 --nodes 4
  $PROG --out nodes --revoke agency0/node1
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

# Bad command line: same message form, exit status 2 (like ktlink).
usage_die() {
	echo "$PROG: $*" >&2
	exit 2
}

say() {
	[[ $QUIET == 1 ]] || echo "$PROG: $*" >&2
}

need_tool() { # tool debian-package
	command -v "$1" >/dev/null 2>&1 ||
		die "$1: not found (install the Debian package $2)"
}

# ---------------------------------------------------------------- options

OUT=./nodes
AGENCY_COUNT=
AGENCY_NAMES=()
NODES=2
KEY_TYPE=ecdsa
DAYS=3650
CRL=0
REVOKE=()
IF_MISSING=0
QUIET=0
GEN_OPTS=() # generation options given explicitly (not allowed when updating)

need_arg() { # option remaining-arg-count
	[[ $2 -ge 2 ]] || usage_die "$1: missing argument"
}

posint() { # option value max
	[[ $2 =~ ^[0-9]+$ ]] || usage_die "$1: '$2' is not a number"
	if [[ ${#2} -gt 6 ]] || (( 10#$2 < 1 || 10#$2 > $3 )); then
		usage_die "$1: '$2' is out of range (1..$3)"
	fi
	echo $((10#$2))
}

valid_name() { # option name
	[[ $2 =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$ ]] ||
		usage_die "$1: '$2' is not a valid name (letters, digits, '_' and '-', up to 64)"
}

while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--out) need_arg "$1" $#; OUT=$2; shift ;;
	--agencies)
		need_arg "$1" $#; AGENCY_COUNT=$(posint "$1" "$2" 1000) || exit 2
		GEN_OPTS+=("$1"); shift ;;
	--agency)
		need_arg "$1" $#; valid_name "$1" "$2"; AGENCY_NAMES+=("$2")
		GEN_OPTS+=("$1"); shift ;;
	--nodes)
		need_arg "$1" $#; NODES=$(posint "$1" "$2" 1000) || exit 2
		GEN_OPTS+=("$1"); shift ;;
	--key-type)
		need_arg "$1" $#
		case $2 in
		ecdsa | ed25519 | rsa) KEY_TYPE=$2 ;;
		*) usage_die "--key-type: unknown key type '$2' (expected ecdsa, ed25519 or rsa)" ;;
		esac
		GEN_OPTS+=("$1"); shift ;;
	--days) need_arg "$1" $#; DAYS=$(posint "$1" "$2" 36500) || exit 2; shift ;;
	--crl) CRL=1 ;;
	--revoke)
		need_arg "$1" $#
		[[ $2 =~ ^[^/]+/[^/]+$ ]] ||
			usage_die "--revoke: '$2' is not of the form AGENCY/NODE"
		valid_name "$1" "${2%/*}"
		valid_name "$1" "${2#*/}"
		REVOKE+=("$2"); CRL=1; shift ;;
	--if-missing) IF_MISSING=1 ;;
	--quiet | -q) QUIET=1 ;;
	--out=* | --agencies=* | --agency=* | --nodes=* | --key-type=* | --days=* | --revoke=*)
		opt=${1%%=*}; val=${1#*=}; shift; set -- "$opt" "$val" "$@"; continue ;;
	*) usage_die "$1: unknown option (see --help)" ;;
	esac
	shift
done

[[ -n $OUT ]] || usage_die "--out: empty directory name"
[[ -z $AGENCY_COUNT || ${#AGENCY_NAMES[@]} -eq 0 ]] ||
	usage_die "--agencies: cannot be combined with --agency"
[[ $IF_MISSING == 0 || ${#REVOKE[@]} -eq 0 ]] ||
	usage_die "--if-missing: cannot be combined with --revoke"

need_tool certtool gnutls-bin
need_tool openssl openssl
need_tool od coreutils
need_tool sha256sum coreutils
need_tool mktemp coreutils

if [[ ${#AGENCY_NAMES[@]} -eq 0 ]]; then
	for ((i = 0; i < ${AGENCY_COUNT:-1}; i++)); do AGENCY_NAMES+=("agency$i"); done
fi
dups=$(printf '%s\n' "${AGENCY_NAMES[@]}" | sort | uniq -d | head -1)
[[ -z $dups ]] || usage_die "--agency: '$dups' given twice"


# ---------------------------------------------------------------- helpers

TMP=  # temporary directory, removed on exit
LIVE= # existing output directory being updated: remove our temporary files
cleanup() {
	[[ -z $TMP ]] || rm -rf -- "$TMP"
	[[ -z $LIVE ]] || rm -f -- "$LIVE"/*/revoked.pem.tmp "$LIVE"/*/revoked.pem.new \
		"$LIVE"/*/agency.crl.tmp "$LIVE"/*/.crl-tmpl.*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# certtool with its chatter captured; on failure report its last error line.
ct() { # what args...
	local what=$1 log
	shift
	if ! log=$(certtool "$@" </dev/null 2>&1); then
		log=$(printf '%s\n' "$log" | grep -v '^[[:space:]]*$' | tail -1)
		die "$what: certtool failed: ${log:-unknown error}"
	fi
}

# EC and Ed25519 keys come from openssl: certtool 3.7 writes EC keys whose
# private value carries a leading zero byte (33 bytes, against RFC 5915),
# which some readers (python cryptography, for one) reject.  RSA keys come
# from certtool, which is about twice as fast at RSA-3072.
# All keys: unencrypted PKCS#8 PEM, mode 0600.
gen_key() { # out-file
	local log ok=1
	case $KEY_TYPE in
	ecdsa)
		log=$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-pkeyopt ec_param_enc:named_curve -out "$1" </dev/null 2>&1) || ok=0 ;;
	ed25519)
		log=$(openssl genpkey -algorithm ED25519 -out "$1" </dev/null 2>&1) || ok=0 ;;
	rsa)
		log=$(certtool --generate-privkey --key-type rsa --bits 3072 --pkcs8 \
			--password '' --no-text --outfile "$1" </dev/null 2>&1) || ok=0 ;;
	esac
	[[ $ok == 1 ]] ||
		die "$1: cannot generate a $KEY_TYPE key: $(printf '%s\n' "$log" | tail -1)"
	chmod 600 "$1"
}

# Dates in certtool's template syntax; backdate one hour for clock skew.
NOT_BEFORE=$(date -u -d '-1 hour' '+%Y-%m-%d %H:%M:%S UTC')
NOT_AFTER=$(date -u -d "+$DAYS days" '+%Y-%m-%d %H:%M:%S UTC')

dates() {
	printf 'activation_date = "%s"\nexpiration_date = "%s"\n' "$NOT_BEFORE" "$NOT_AFTER"
}

# DER SubjectPublicKeyInfo of a certificate or key file, on stdout.
spki_der() { # file
	if [[ $(head -c 64 "$1") == *CERTIFICATE* ]]; then
		certtool --load-certificate "$1" --pubkey-info --outder 2>/dev/null
	else
		certtool --load-privkey "$1" --pubkey-info --outder 2>/dev/null
	fi
}

# Node ID, FISCO BCOS style, from a certificate or key file.
node_id() { # file
	local hex len
	hex=$(spki_der "$1" | od -An -tx1 -v | tr -d ' \n')
	len=${#hex}
	case $KEY_TYPE in
	ecdsa) # SPKI for P-256 is 91 bytes; the point 04||X||Y ends it
		[[ $len == 182 && ${hex:52:2} == 04 ]] ||
			die "$1: not an uncompressed P-256 public key"
		echo "${hex:54:128}" ;;
	ed25519) # SPKI for Ed25519 is 44 bytes; the raw key ends it
		[[ $len == 88 ]] || die "$1: not an Ed25519 public key"
		echo "${hex:24:64}" ;;
	rsa)
		[[ $len -gt 0 ]] || die "$1: cannot read the public key"
		spki_der "$1" | sha256sum | cut -d' ' -f1 ;;
	esac
}

# First certificate of a PEM file.
first_cert() { # file
	awk '/-----BEGIN CERTIFICATE-----/ { p = 1 } p { print } /-----END CERTIFICATE-----/ && p { exit }' "$1"
}

# Write AGENCYDIR/agency.crl from AGENCYDIR/revoked.pem (may be empty).
# Writes to .tmp files first; the caller's directory may be the live one.
write_crl() { # agency-dir
	local d=$1 tmpl num=1 old
	tmpl=$(mktemp "$d/.crl-tmpl.XXXXXX")
	if [[ -f $d/agency.crl ]]; then
		old=$(certtool --crl-info --infile "$d/agency.crl" 2>/dev/null |
			sed -n 's/^.*CRL Number[^:]*: *\([0-9a-fA-F]\{1,14\}\)[[:space:]]*$/\1/p' | head -1)
		[[ -z $old ]] || num=$((16#$old + 1))
	fi
	printf 'crl_next_update = %s\ncrl_number = %s\n' "$DAYS" "$num" >"$tmpl"
	local args=(--generate-crl --load-ca-privkey "$d/agency.key"
		--load-ca-certificate "$d/agency.crt" --template "$tmpl" --no-text
		--outfile "$d/agency.crl.tmp")
	if [[ -s $d/revoked.pem ]]; then
		args+=(--load-certificate "$d/revoked.pem")
	fi
	ct "$d/agency.crl" "${args[@]}"
	rm -f -- "$tmpl"
	chmod 644 "$d/agency.crl.tmp"
	mv -f -- "$d/agency.crl.tmp" "$d/agency.crl"
}

# Add AGENCY/NODE's certificate to its agency's revoked.pem (under root dir).
add_revoked() { # root-dir agency/node
	local root=$1 agency=${2%/*} node=${2#*/} crt
	[[ -d $root/$agency && -f $root/$agency/agency.key ]] ||
		die "--revoke: $2: no agency '$agency' in $OUT"
	crt=$root/$agency/$node/node.crt
	[[ -f $crt ]] || die "--revoke: $2: no node '$node' in $OUT/$agency"
	local pem
	pem=$(first_cert "$crt")
	[[ -n $pem ]] || die "--revoke: $2: $crt holds no certificate"
	local flat
	flat=$(printf '%s' "$pem" | tr -d '\n')
	if { cat -- "$root/$agency/revoked.pem" "$root/$agency/revoked.pem.tmp" 2>/dev/null || true; } |
		tr -d '\n' | grep -qF -- "$flat"; then
		say "$2 already revoked"
		return
	fi
	printf '%s\n' "$pem" >>"$root/$agency/revoked.pem.tmp"
}

count_certs() { # file
	if [[ -f $1 ]]; then grep -c 'BEGIN CERTIFICATE' -- "$1" || true; else echo 0; fi
}

# Apply --revoke and --crl to a root dir (fresh or existing).
update_crls() { # root-dir
	local root=$1 r a
	local -A touched=()
	rm -f -- "$root"/*/revoked.pem.tmp
	for r in "${REVOKE[@]}"; do
		add_revoked "$root" "$r"
		touched[${r%/*}]=1
	done
	if [[ $CRL == 1 ]]; then
		for a in "$root"/*/agency.key; do
			[[ -e $a ]] || continue
			a=${a%/agency.key}
			a=${a##*/}
			# existing DIR + plain --crl: only agencies without a CRL yet
			if [[ ${#REVOKE[@]} -gt 0 || ! -f $root/$a/agency.crl ]]; then
				touched[$a]=1
			fi
		done
	fi
	for a in "${!touched[@]}"; do
		if [[ -f $root/$a/revoked.pem.tmp ]]; then
			[[ -f $root/$a/revoked.pem ]] && cat -- "$root/$a/revoked.pem" >>"$root/$a/revoked.pem.new"
			cat -- "$root/$a/revoked.pem.tmp" >>"$root/$a/revoked.pem.new"
			rm -f -- "$root/$a/revoked.pem.tmp"
			chmod 644 "$root/$a/revoked.pem.new"
			mv -f -- "$root/$a/revoked.pem.new" "$root/$a/revoked.pem"
		fi
		write_crl "$root/$a"
		say "wrote $OUT/$a/agency.crl ($(count_certs "$root/$a/revoked.pem") revoked)"
	done
}

# ---------------------------------------------------------------- generation

gen_root() { # dir
	local d=$1
	gen_key "$d/ca.key"
	{ echo 'cn = "ktlink-root"'; dates; printf 'ca\ncert_signing_key\ncrl_signing_key\n'; } >"$d/.tmpl"
	ct "$OUT/ca.crt" --generate-self-signed --load-privkey "$d/ca.key" \
		--template "$d/.tmpl" --no-text --outfile "$d/ca.crt"
}

gen_agency() { # root-dir name
	local d=$1/$2
	mkdir -- "$d"
	gen_key "$d/agency.key"
	{
		printf 'dn = "CN=%s,O=%s,OU=ktlink"\n' "$2" "$2"
		dates
		printf 'ca\npath_len = 0\ncert_signing_key\ncrl_signing_key\n'
	} >"$1/.tmpl"
	ct "$OUT/$2/agency.crt" --generate-certificate --load-privkey "$d/agency.key" \
		--load-ca-certificate "$1/ca.crt" --load-ca-privkey "$1/ca.key" \
		--template "$1/.tmpl" --no-text --outfile "$d/agency.crt"
}

gen_node() { # root-dir agency node
	local root=$1 a=$1/$2 d=$1/$2/$3 id
	mkdir -- "$d"
	gen_key "$d/node.key"
	{
		printf 'dn = "CN=%s,O=%s,OU=ktlink"\n' "$3" "$2"
		dates
		printf 'tls_www_server\ntls_www_client\nsigning_key\n'
		[[ $KEY_TYPE != rsa ]] || echo encryption_key
	} >"$root/.tmpl"
	ct "$OUT/$2/$3/node.crt" --generate-certificate --load-privkey "$d/node.key" \
		--load-ca-certificate "$a/agency.crt" --load-ca-privkey "$a/agency.key" \
		--template "$root/.tmpl" --no-text --outfile "$d/node.crt.tmp"
	cat -- "$d/node.crt.tmp" "$a/agency.crt" >"$d/node.crt"
	rm -f -- "$d/node.crt.tmp"
	cp -- "$root/ca.crt" "$d/ca.crt"
	id=$(node_id "$d/node.key")
	echo "$id" >"$d/node.nodeid"
	NODE_LINES+=("$2/$3 $id")
}

# Public files readable, keys private.
fix_modes() { # root-dir
	find "$1" -type d -exec chmod 755 {} +
	find "$1" -type f \( -name '*.crt' -o -name '*.crl' -o -name '*.nodeid' -o -name '*.pem' \) -exec chmod 644 {} +
	find "$1" -type f -name '*.key' -exec chmod 600 {} +
}

# ---------------------------------------------------------------- main

if [[ -e $OUT/ca.crt ]]; then
	if [[ $IF_MISSING == 1 ]]; then
		say "$OUT/ca.crt exists, nothing to do"
		exit 0
	fi
	if [[ $CRL == 0 ]]; then
		die "$OUT: already holds certificates (use --revoke or --crl to update its CRLs, or another --out)"
	fi
	[[ ${#GEN_OPTS[@]} -eq 0 ]] ||
		usage_die "${GEN_OPTS[0]}: cannot be used on an existing $OUT (only --revoke/--crl/--days)"
	[[ -w $OUT ]] || die "$OUT: not writable"
	LIVE=$OUT
	update_crls "$OUT"
	exit 0
fi

if [[ -e $OUT ]]; then
	[[ -d $OUT ]] || die "$OUT: exists and is not a directory"
	[[ -z $(ls -A -- "$OUT" 2>/dev/null) ]] ||
		die "$OUT: not empty and holds no ca.crt (refusing to write into it)"
fi

# Errors of a failed command, reduced to the reason after the last ": ".
reason() { local r=${1##*: }; echo "${r:-unknown error}"; }

parent=$(dirname -- "$OUT")
[[ ! -e $parent || -d $parent ]] || die "$OUT: $parent is not a directory"
log=$(mkdir -p -- "$parent" 2>&1) || die "$OUT: cannot create $parent: $(reason "$log")"
TMP=$(mktemp -d "$parent/.ktlink-certs.XXXXXX" 2>&1) ||
	{ log=$TMP; TMP=; die "$OUT: cannot write in $parent: $(reason "$log")"; }

# Check --revoke targets before spending time on keys.
for r in "${REVOKE[@]}"; do
	printf '%s\n' "${AGENCY_NAMES[@]}" | grep -qxF -- "${r%/*}" ||
		die "--revoke: $r: no agency '${r%/*}' among those being generated"
	n=${r#*/}
	if ! [[ $n =~ ^node(0|[1-9][0-9]{0,5})$ ]] || (( BASH_REMATCH[1] >= NODES )); then
		die "--revoke: $r: no node '$n' among those being generated (node0..node$((NODES - 1)))"
	fi
done

NODE_LINES=()
say "generating $KEY_TYPE root, ${#AGENCY_NAMES[@]} agenc$([[ ${#AGENCY_NAMES[@]} == 1 ]] && echo y || echo ies), $NODES node(s) each in $OUT"
gen_root "$TMP"
for a in "${AGENCY_NAMES[@]}"; do
	gen_agency "$TMP" "$a"
	for ((n = 0; n < NODES; n++)); do
		gen_node "$TMP" "$a" "node$n"
	done
done
rm -f -- "$TMP/.tmpl"
update_crls "$TMP"
fix_modes "$TMP"

if [[ -d $OUT ]]; then
	rmdir -- "$OUT" 2>/dev/null || die "$OUT: cannot replace the empty directory"
fi
mv -T -- "$TMP" "$OUT" || die "$OUT: cannot move the result into place"
TMP=

if [[ $QUIET == 0 ]]; then
	printf '%s\n' "${NODE_LINES[@]}"
fi
