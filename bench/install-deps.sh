#!/usr/bin/env bash
# Installs what the benchmarks need beyond the test dependencies (.ci/run installs only those):
# the reference POP3 retrievers mpop and fetchmail, plus Dovecot and openssl for the benchmark server.
# Debian packages only; run as root (or it prints the apt-get line to run).
set -euo pipefail
missing=()
command -v mpop >/dev/null 2>&1 || missing+=(mpop)
command -v fetchmail >/dev/null 2>&1 || missing+=(fetchmail)
command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/pop3 ] || missing+=(dovecot-core dovecot-pop3d)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -eq 0 ]; then
  echo "bench deps present: $(mpop --version | head -1); $(fetchmail --version 2>/dev/null | grep -m1 release || true); dovecot $(dovecot --version)"
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing benchmark dependencies: ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "The benchmarks need: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
