#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need, when missing: Dovecot (IMAP and
# POP3), dante-server and microsocks (SOCKS5), openssl, and mpop (the reference POP3
# client the OAuth2 tests compare with), and chromium with its WebDriver (the web console's
# browser tests). Their system services are never
# started: a policy-rc.d that exits 101 blocks that during the install. The machine's own
# services are never stopped or changed either: the tests run private instances.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd dovecot-pop3d)
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -x /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
command -v danted >/dev/null 2>&1 || need+=(dante-server)
command -v microsocks >/dev/null 2>&1 || need+=(microsocks)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v pkill >/dev/null 2>&1 || need+=(procps)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v mpop >/dev/null 2>&1 || need+=(mpop)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
for extra in "$@"; do need+=("$extra"); done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing: ${need[*]}" >&2
guard=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
had_guard=0
[ -e "$guard" ] && had_guard=1
if [ $had_guard -eq 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > "$guard"
  chmod +x "$guard"
  trap 'rm -f "$guard"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
