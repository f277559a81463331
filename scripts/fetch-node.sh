#!/usr/bin/env bash
# Usage: scripts/fetch-node.sh VERSION
# Prints the directory of the `node` binary of that Node version, fetching it first if needed from the npm
# registry's official binary package (node-linux-<arch>; scripts/registry-package.sh). The package also
# holds Node's headers (include/node), so native modules can be built for it offline:
# npm_config_nodedir=<printed dir>/.. .
# Used by scripts/lambda-node.sh (Node 24, the Lambda runtime) and scripts/test-on-node-lts.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:?usage: fetch-node.sh VERSION}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "fetch-node: no Node binary package for $(uname -m)" >&2; exit 1 ;;
esac
echo "$(bash scripts/registry-package.sh "node-linux-${arch}@${version}")/bin"
