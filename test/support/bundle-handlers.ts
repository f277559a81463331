/**
 * Bundles the three Lambda handlers with esbuild exactly as a deploy does: the
 * options are the CDK construct's own (`BUNDLING` in
 * infra/constructs/bridge-function.ts), translated to esbuild's API the way
 * aws-lambda-nodejs translates them to its CLI (`Bundling.buildEsbuildArgs`:
 * --bundle, --platform=node, --outfile=index.mjs for ESM, …). A bundling
 * option this translation does not know fails loudly instead of being
 * silently dropped, so the artifacts under test cannot drift from the
 * deployed ones.
 *
 *   const bundles = await bundleHandlers();   // once per process (cached)
 *   const { handler } = await import(pathToFileURL(bundles.handlers.poll.path).href);
 *   afterAll(() => bundles.cleanup());
 *
 * The output goes to a temp dir outside the repository, so a bundle that
 * still needed node_modules at run time would fail to import.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { type BuildOptions, build } from 'esbuild';
import { BUNDLING } from '../../infra/constructs/bridge-function.js';

export const HANDLER_NAMES = ['dispatch', 'poll', 'deliver', 'registry'] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

export interface HandlerBundle {
  readonly name: HandlerName;
  /** The TypeScript entry (as infra/bridge-stack.ts passes it to NodejsFunction). */
  readonly entry: string;
  /** The bundle: `<dir>/<name>/index.mjs` (`index.js` for CommonJS), as in the Lambda asset. */
  readonly path: string;
  readonly bytes: number;
  /** The source map next to it (0 when source maps are off). */
  readonly mapBytes: number;
}

export interface HandlerBundles {
  readonly dir: string;
  readonly handlers: Readonly<Record<HandlerName, HandlerBundle>>;
  /** Removes the temp dir; the next `bundleHandlers()` bundles again. */
  cleanup(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function handlerEntry(name: HandlerName): string {
  return path.join(REPO_ROOT, 'functions', 'handlers', `${name}.ts`);
}

/** Options that only choose where or how esbuild runs (Docker or not), not what it produces. */
const NOT_OUTPUT_AFFECTING = new Set<keyof BundlingOptions>(['forceDockerBundling']);

/**
 * esbuild API options equivalent to the CLI arguments aws-lambda-nodejs builds
 * from `bundling` (aws-cdk-lib/aws-lambda-nodejs/lib/bundling.js, buildEsbuildArgs).
 */
export function esbuildOptionsFrom(bundling: BundlingOptions, entry: string, outdir: string): BuildOptions {
  const known = new Set<string>([
    'format',
    'target',
    'mainFields',
    'banner',
    'minify',
    'sourceMap',
    'sourceMapMode',
    'sourcesContent',
    'externalModules',
    'esbuildArgs',
    ...NOT_OUTPUT_AFFECTING,
  ]);
  const unknown = Object.entries(bundling)
    .filter(([key, value]) => value !== undefined && !known.has(key))
    .map(([key]) => key);
  if (unknown.length > 0) {
    throw new Error(
      `bundle-handlers: BUNDLING sets ${unknown.join(', ')}, which this test bundler does not translate; ` +
        'add it to esbuildOptionsFrom() so the tested bundles stay identical to the deployed ones',
    );
  }
  if (bundling.target === undefined) throw new Error('bundle-handlers: BUNDLING.target must be explicit');
  const esm = bundling.format === 'esm';
  // CDK: sourceMapMode ?? sourceMap enables; mode DEFAULT is a bare --sourcemap (linked file).
  const sourceMapOn = bundling.sourceMapMode !== undefined || bundling.sourceMap === true;
  const mode = bundling.sourceMapMode ?? 'default';
  return {
    absWorkingDir: REPO_ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: bundling.target,
    ...(bundling.format !== undefined && { format: bundling.format }),
    outfile: path.join(outdir, esm ? 'index.mjs' : 'index.js'),
    minify: bundling.minify === true,
    sourcemap: sourceMapOn ? (mode === 'default' ? true : mode) : false,
    ...(bundling.sourcesContent === false && { sourcesContent: false }),
    // CDK's default is ['@aws-sdk/*'] (the runtime's SDK); the construct sets [] (bundle the pinned SDK).
    external: [...(bundling.externalModules ?? ['@aws-sdk/*'])],
    ...(bundling.banner !== undefined && { banner: { js: bundling.banner } }),
    ...(bundling.mainFields !== undefined && { mainFields: [...bundling.mainFields] }),
    ...esbuildArgsOptions(bundling.esbuildArgs ?? {}),
    logLevel: 'silent',
  };
}

/**
 * The esbuild API options for `bundling.esbuildArgs`, which aws-lambda-nodejs passes to the esbuild CLI
 * verbatim (an array value repeats the flag as `--flag:item`). Only the flags BUNDLING uses are translated;
 * any other fails, as an unknown bundling option does.
 */
export function esbuildArgsOptions(args: NonNullable<BundlingOptions['esbuildArgs']>): BuildOptions {
  const options: BuildOptions = {};
  for (const [flag, value] of Object.entries(args)) {
    if (flag === '--alias' && Array.isArray(value)) {
      // `--alias:from=to`; the CLI resolves `to` from its working directory, the project root (absWorkingDir).
      const alias: Record<string, string> = {};
      for (const item of value) {
        const eq = item.indexOf('=');
        if (eq <= 0)
          throw new Error(`bundle-handlers: esbuildArgs --alias item ${JSON.stringify(item)} is not from=to`);
        alias[item.slice(0, eq)] = item.slice(eq + 1);
      }
      options.alias = alias;
    } else {
      throw new Error(
        `bundle-handlers: BUNDLING.esbuildArgs ${flag}=${JSON.stringify(value)} is not translated; ` +
          'add it to esbuildArgsOptions() so the tested bundles stay identical to the deployed ones',
      );
    }
  }
  return options;
}

let cached: Promise<HandlerBundles> | undefined;

/** Bundles dispatch, poll and deliver once per process; later calls get the same artifacts. */
export function bundleHandlers(): Promise<HandlerBundles> {
  cached ??= doBundle().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

async function doBundle(): Promise<HandlerBundles> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-bundles-'));
  try {
    const built = await Promise.all(
      HANDLER_NAMES.map(async (name): Promise<HandlerBundle> => {
        const outdir = path.join(dir, name);
        await mkdir(outdir);
        const entry = handlerEntry(name);
        const options = esbuildOptionsFrom(BUNDLING, entry, outdir);
        const result = await build(options);
        if (result.errors.length > 0) throw new Error(`esbuild failed for ${name}: ${JSON.stringify(result.errors)}`);
        const outfile = options.outfile as string;
        const bytes = (await stat(outfile)).size;
        const mapBytes = options.sourcemap ? (await stat(`${outfile}.map`)).size : 0;
        return { name, entry, path: outfile, bytes, mapBytes };
      }),
    );
    const handlers = Object.fromEntries(built.map((b) => [b.name, b])) as Record<HandlerName, HandlerBundle>;
    return {
      dir,
      handlers,
      cleanup: async () => {
        cached = undefined;
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
