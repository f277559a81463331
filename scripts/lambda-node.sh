#!/usr/bin/env bash
# Prints the directory of the `node` binary of AWS mode's Lambda runtime (Node 24, infra:
# Runtime.NODEJS_24_X), fetching it first if needed (scripts/fetch-node.sh: the npm registry's official
# binary package, kept under node_modules/.cache). Used by scripts/test-on-lambda-node.sh and the
# benchmarks (lambdaNodeBinary in bench/support.ts).
set -euo pipefail
exec bash "$(dirname "$0")/fetch-node.sh" 24.21.0
