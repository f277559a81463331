#!/usr/bin/env bash
# Usage: scripts/fetch-node.sh VERSION
# Prints the directory of the `node` binary of that Node version, fetching it first if needed. It comes
# from the npm registry's official binary package (node-linux-<arch>), whose integrity npm checks against
# the registry, and is kept under node_modules/.cache. The package also holds Node's headers
# (include/node), so native modules can be built for it offline: npm_config_nodedir=<dir>/.. .
# Used by scripts/lambda-node.sh (Node 24, the Lambda runtime) and scripts/test-on-node-lts.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:?usage: fetch-node.sh VERSION}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "fetch-node: no Node binary package for $(uname -m)" >&2; exit 1 ;;
esac
dir="node_modules/.cache/node-binaries/node-linux-${arch}-${version}"
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  tarball=$(cd "$dir" && npm pack --silent "node-linux-${arch}@${version}")
  tar -xzf "$dir/$tarball" -C "$dir"
  rm -f "$dir/$tarball"
fi
echo "$(pwd)/$dir/package/bin"
