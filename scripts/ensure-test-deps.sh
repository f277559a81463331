#!/usr/bin/env bash
# Makes sure the system packages the tests need are present (runs before `npm test`).
# The tests start their own Dovecot on loopback ports with a generated config; they
# never use or touch the system's /etc/dovecot or its service.
set -euo pipefail
missing=()
command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/pop3 ] || missing+=(dovecot-core dovecot-pop3d)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing test dependencies: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "The tests need: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
# Checked after the apt step, so a machine without moto still gets Dovecot and openssl installed first.
# moto has no Debian package; it comes with this project's machine image (its Python), and pip installs it
# where PyPI is reachable.
if ! command -v moto_server >/dev/null 2>&1; then
  echo "The AWS adapter tests need moto_server (moto 5.2, an AWS API emulator): pip install 'moto[server]==5.2.*'" >&2
  exit 1
fi
