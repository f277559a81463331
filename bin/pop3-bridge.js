#!/usr/bin/env node
// The CLI runs from the TypeScript sources with no build step to forget: on start it bundles
// functions/cli/main.ts and its dependencies with esbuild into node_modules/.cache, keyed by a fingerprint
// of every source file (and the lockfile), and runs that bundle. A changed source gives a new fingerprint, so
// the bundle is never stale; an unchanged tree reuses it (the check stats ~90 files, a few ms); a build
// takes about half a second.
//
// Why not a TypeScript loader (tsx) as before: a loader hook runs in its own thread with its own V8 heap,
// and node_modules loaded file by file cost more: a 20 MiB message stored and delivered peaked at 146 MiB
// under tsx and 120 MiB as this bundle (bench/rss-delivery.ts --quick, 2026-11-27). The Lambda handlers are esbuild bundles too, so both modes run the same
// kind of artifact.
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { holdBundle, removeUnusedBundles } from './bundle-cache.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'functions', 'cli', 'main.ts');

/**
 * Path, size and mtime of every file the bundle is built from (our sources, the in-repo packages under
 * packages/ that stand in for libmime's iconv-lite and encoding-japanese, and the patches under patches/), and
 * of the lockfile and tsconfig.
 */
function fingerprint() {
  const hash = createHash('sha256');
  // The bundle names better-sqlite3 by absolute path: two installs sharing ~/.cache must not share bundles.
  hash.update(`${root}\n`);
  for (const [dir, extension] of [
    ['functions', '.ts'],
    ['packages', '.js'],
    // patch-package's patches change node_modules without changing the lockfile (postinstall applies them)
    ['patches', '.patch'],
  ]) {
    const files = (existsSync(path.join(root, dir)) ? readdirSync(path.join(root, dir), { recursive: true }) : [])
      .map(String)
      .filter((name) => name.endsWith(extension))
      .sort();
    for (const name of files) {
      const info = statSync(path.join(root, dir, name));
      hash.update(`${dir}/${name}\0${info.size}\0${info.mtimeMs}\n`);
    }
  }
  for (const name of ['package-lock.json', 'tsconfig.json', 'bin/pop3-bridge.js']) {
    const info = statSync(path.join(root, name), { throwIfNoEntry: false });
    hash.update(`${name}\0${info?.size}\0${info?.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * node_modules/.cache in a checkout; the user's cache directory when the package is installed where this user
 * cannot write (a global install by root). Never a shared temp directory: whoever can write there could plant a
 * bundle for us to run.
 */
function cacheDir() {
  const local = path.join(root, 'node_modules', '.cache', 'pop3-bridge');
  try {
    mkdirSync(local, { recursive: true });
    accessSync(local, constants.W_OK);
    return local;
  } catch {
    const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
    const dir = path.join(base, 'pop3-bridge');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}

/**
 * better-sqlite3 loads a native addon, so it is not bundled; imported by absolute path, the bundle may live
 * anywhere. Both builds: 12 for Node 20, 13 (alias better-sqlite3-13) for Node 22+ (functions/local/sqlite-driver.ts).
 */
const nativeAddons = {
  name: 'native-addons',
  setup(build) {
    const requireFromRoot = createRequire(path.join(root, 'package.json'));
    build.onResolve({ filter: /^better-sqlite3(-13)?$/ }, (args) => ({
      path: requireFromRoot.resolve(args.path),
      external: true,
    }));
  },
};

async function bundlePath() {
  const dir = cacheDir();
  const name = `cli-${fingerprint()}.mjs`;
  const target = path.join(dir, name);
  holdBundle(dir, name);
  if (statSync(target, { throwIfNoEntry: false })) return target;
  const { build } = await import('esbuild');
  // Built in a directory of its own and renamed into place, map first: CLIs started at the same moment each
  // build, and none ever imports a half-written file.
  const scratch = path.join(dir, `build-${process.pid}-${Date.now()}`);
  mkdirSync(scratch, { recursive: true });
  try {
    await build({
      entryPoints: [entry],
      outfile: path.join(scratch, name),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Dependencies are bundled too: one module graph costs less resident memory than node_modules loaded
      // file by file (bench/rss-delivery.ts).
      plugins: [nativeAddons],
      // CommonJS dependencies call require() for Node's built-ins; an ESM bundle has no require of its own.
      banner: {
        js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
      // A linked map costs nothing unless asked for: NODE_OPTIONS=--enable-source-maps gives stack traces in
      // the TypeScript sources. Loading it on every start would cost ~8 MiB of resident memory.
      sourcemap: 'linked',
      sourcesContent: false,
      logLevel: 'error',
    });
    renameSync(path.join(scratch, `${name}.map`), `${target}.map`);
    renameSync(path.join(scratch, name), target);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // Bundles of earlier source trees are dead weight, unless a running CLI still uses one (bin/bundle-cache.js).
  removeUnusedBundles(dir, name);
  return target;
}

const { main } = await import(pathToFileURL(await bundlePath()).href);
process.exitCode = await main(process.argv.slice(2), process.env);
