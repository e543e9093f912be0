#!/usr/bin/env bash
# Installs (as root) or names (otherwise) the Debian packages ktlink needs.
#   deps.sh install   install whatever is missing
#   deps.sh ensure    install only if something is missing; quiet otherwise
set -euo pipefail

# package : what proves it is there
checks=(
  "build-essential:command -v cc"
  "make:command -v make"
  "pkg-config:command -v pkg-config"
  "libgnutls28-dev:pkg-config --exists gnutls"
  "liburing-dev:pkg-config --exists liburing"
  "libcmocka-dev:pkg-config --exists cmocka"
  "libinih-dev:pkg-config --exists inih"
  "libssl-dev:pkg-config --exists openssl"
  "gnutls-bin:command -v certtool && command -v gnutls-serv && command -v gnutls-cli"
  "openssl:command -v openssl"
  "qemu-system-x86:command -v qemu-system-x86_64"
  "busybox-static:test -x /bin/busybox && /bin/busybox --list | grep -qx modprobe"
  "cpio:command -v cpio"
)
# Wanted, not needed: the benchmark draws plots with gnuplot when present.
optional=(gnuplot-nox)

missing=()
for c in "${checks[@]}"; do
  pkg=${c%%:*}; test=${c#*:}
  bash -c "$test" >/dev/null 2>&1 || missing+=("$pkg")
done

mode=${1:-install}
if [ "$mode" = ensure ] && [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$mode" = install ]; then
  for p in "${optional[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: everything ktlink needs is installed"
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
