#!/usr/bin/env bash
# Runs every test once more on Node 24 (the Lambda runtime of AWS mode, infra: Runtime.NODEJS_24_X, and a
# Node that local-mode users run), while `npm test` runs on the machine's Node 20. Above all the tests whose
# outcome depends on what Node itself ships:
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
# the patched mailsplit, libbase64 and mailparser (patches/), which the deliver Lambda runs.
#
# Since 2026-11-27 the rest too: local mode on Node 22+ uses better-sqlite3 13, whose prebuilt N-API binary
# loads on any Node from 22 on, so the machine's node_modules serve Node 24 as they are
# (functions/local/sqlite-driver.ts). Local mode runs on Node 24 too: better-sqlite3 12 aborted there, which
# only running the local-mode tests on Node 24 showed.
#
# Node comes from scripts/lambda-node.sh (the npm registry's official binary package, under node_modules/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."

node_bin="$(bash scripts/lambda-node.sh)"
echo "test-on-lambda-node: $("$node_bin/node" --version), ICU $("$node_bin/node" -p process.versions.icu)"
# vitest's bin runs under the `node` first on PATH, i.e. Node 24.
PATH="$node_bin:$PATH" node_modules/.bin/vitest run
