#!/usr/bin/env bash
# Runs, on Node 24 (the Lambda runtime of AWS mode, infra: Runtime.NODEJS_24_X), the tests whose
# outcome depends on what Node itself ships, while `npm test` runs on the machine's Node 20:
#   - the AWS side (test/aws: the bundled Lambda handlers end to end against moto and the real
#     Dovecot, the S3/DynamoDB/KMS adapters; test/contract; test/security: the SSRF guard and TLS
#     downgrade tests), i.e. the code on the runtime it will run on;
#   - the POP3 client (test/pop3, against the real Dovecot): TLS, STLS, certificate checks and
#     pinning go through Node's OpenSSL, which differs between Node 20 and 24;
#   - the charset tests: charset decoding goes through Node's TextDecoder, i.e. through the ICU that Node ships,
# and ICU versions decode some codes differently (Node 20's ICU 77 maps 18 GBK codes to the
# Private Use Area, Node 24's ICU 78 to the GB18030-2022 characters). The adapter's tables
# pin those codes (packages/iconv-lite-textdecoder/generate-tables.cjs); this run proves the
# pins hold on the runtime that AWS mode actually uses.
#
# Also the hostile MIME corpus (bounded time and live memory; its samples force two GCs, since after one
# Node 24 still counted array buffers its concurrent sweeper had not yet released) and the parity tests of
# the patched mailsplit and libbase64 (patches/), which the deliver Lambda runs.
#
# Not the rest: files that open SQLite need better-sqlite3 built for Node 24 (local mode runs on the
# machine's Node, not on Lambda's); the rest of test/events passes on Node 24 too.
#
# Node comes from scripts/lambda-node.sh (the npm registry's official binary package, under node_modules/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."

node_bin="$(bash scripts/lambda-node.sh)"
echo "test-on-lambda-node: $("$node_bin/node" --version), ICU $("$node_bin/node" -p process.versions.icu)"
PATH="$node_bin:$PATH" npx vitest run test/aws test/contract test/security test/pop3 test/events/charset-adapter.test.ts test/events/japanese-adapter.test.ts \
  test/events/hostile.test.ts test/events/patched-mailsplit.test.ts test/events/patched-libbase64.test.ts
