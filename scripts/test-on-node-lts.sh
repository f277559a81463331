#!/usr/bin/env bash
# Runs what a newcomer runs first, on the current Node LTS (26) with the npm the registry serves as latest
# (12), while `npm test` runs on the machine's Node 20: a fresh `npm ci` in a copy of the checkout,
# `npm run demo`, and the local-mode tests (engine, CLI, SQLite and folder store, delivery, events).
#
# Why: local mode is the embedded default and the README promises Node 20+. Breaks reached a newcomer on
# a current machine without any test noticing: better-sqlite3 12.6.2 did not compile on Node 26 (npm ci
# failed), and npm 12 silently skipped its build (the demo failed). Local mode on Node 22+ now uses
# better-sqlite3 13, a prebuilt binary (functions/local/sqlite-driver.ts); this run proves a fresh install
# of the lockfile works there with the newest npm, whatever it does with install scripts.
#
# The install happens in a copy of the checkout (the machine's node_modules hold better-sqlite3 12 built
# for Node 20), removed at the end. Node and npm come from the npm registry (scripts/fetch-node.sh,
# scripts/registry-package.sh: npm pack, checked against its integrity data); Node's headers come with the
# binary package, so better-sqlite3 12's build needs nothing from nodejs.org.
# Another Node: NODE_LTS_VERSION=24.21.0 bash scripts/test-on-node-lts.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_LTS_VERSION="${NODE_LTS_VERSION:-26.12.1}"
NPM_VERSION=12.2.2

node_bin="$(bash scripts/fetch-node.sh "$NODE_LTS_VERSION")"
npm_cli="$(bash scripts/registry-package.sh "npm@${NPM_VERSION}")/bin/npm-cli.js"

work="$(mktemp -d "${TMPDIR:-/tmp}/pop3-bridge-node-lts.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -c --exclude=./node_modules --exclude=./.git --exclude=./bench/.work --exclude=./.pop3-bridge-demo \
  --exclude=./cdk.out . | tar -x -C "$work"
cd "$work"

export PATH="$node_bin:$PATH"
# Build native modules against this Node's own headers (the machine's npm config may point elsewhere).
export npm_config_nodedir="$node_bin/.."
echo "test-on-node-lts: node $(node --version), npm $(node "$npm_cli" --version)"
node "$npm_cli" ci --no-audit --no-fund
node "$npm_cli" run demo   # the README's first command; npm runs the script with the `node` on PATH
# vitest's bin runs under the `node` first on PATH, i.e. this Node (not through the machine's npx).
node_modules/.bin/vitest run test/local test/core test/cli test/delivery test/events test/infra/install-scripts.test.ts
