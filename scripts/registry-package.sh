#!/usr/bin/env bash
# Usage: scripts/registry-package.sh NAME@VERSION
# Prints the directory of that npm package's contents, fetching it first if needed with `npm pack` (npm
# checks the tarball against the registry's integrity data) and unpacking it under node_modules/.cache.
# For tools the tests run beside the project rather than import: Node binaries (scripts/fetch-node.sh)
# and npm itself (scripts/test-on-node-lts.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

spec="${1:?usage: registry-package.sh NAME@VERSION}"
dir="node_modules/.cache/registry-packages/${spec//\//+}"
if [ ! -e "$dir/package/package.json" ]; then
  mkdir -p "$dir"
  tarball=$(cd "$dir" && npm pack --silent "$spec")
  tar -xzf "$dir/$tarball" -C "$dir"
  rm -f "$dir/$tarball"
fi
echo "$(pwd)/$dir/package"
