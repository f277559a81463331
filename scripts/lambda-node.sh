#!/usr/bin/env bash
# Prints the directory of the `node` binary of AWS mode's Lambda runtime (Node 24, infra:
# Runtime.NODEJS_24_X), fetching it first if needed. It comes from the npm registry's official binary
# package (node-linux-<arch>), whose integrity npm checks against the registry, and is kept under
# node_modules/.cache. Used by scripts/test-on-lambda-node.sh and the benchmarks (lambdaNodeBinary in bench/support.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=24.21.0
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "lambda-node: no Node binary package for $(uname -m)" >&2; exit 1 ;;
esac
dir="node_modules/.cache/lambda-node/node-linux-${arch}-${NODE_VERSION}"
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  tarball=$(cd "$dir" && npm pack --silent "node-linux-${arch}@${NODE_VERSION}")
  tar -xzf "$dir/$tarball" -C "$dir"
  rm -f "$dir/$tarball"
fi
echo "$(pwd)/$dir/package/bin"
