/**
 * Bundle size and cold module-init time of each Lambda handler, on the bundles
 * a deploy ships (test/support/bundle-handlers.ts: the CDK construct's own
 * esbuild options).
 *
 * Cold init = a fresh `node` per measurement that has the handler's
 * environment (as the stack sets it, pointed at no real AWS) and times
 * `await import(bundle)` with performance.now(): parsing and evaluating the
 * bundle plus everything the handler builds at module scope (SDK clients,
 * Powertools logger, metrics and parameters provider). Module init makes no
 * network calls, so no AWS endpoint is needed. Measured with and without
 * NODE_OPTIONS=--enable-source-maps, which the stack sets on every function
 * and which makes Node read and parse the source map at import.
 *
 * Targets (issue 5): bundle ≤ 1 MB, cold module-init ≤ 200 ms, on this machine.
 * Also prints what each bundle is made of (esbuild's metafile, same options),
 * so a size change can be traced to a package group.
 *
 *   npx tsx bench/handlers-cold-init.ts [--n 5] [--summary FILE]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { BUNDLING } from '../infra/constructs/bridge-function.js';
import {
  bundleHandlers,
  esbuildOptionsFrom,
  HANDLER_NAMES,
  type HandlerBundle,
  type HandlerName,
  handlerEntry,
} from '../test/support/bundle-handlers.js';
import {
  machineLine,
  markdownTable,
  median,
  parseArgs,
  runProcess,
  type SummaryRow,
  table,
  writeSummary,
} from './support.js';

const SIZE_TARGET_BYTES = 1_000_000;
const INIT_TARGET_MS = 200;
const CHILD_TIMEOUT_MS = 30_000;

/** What the stack gives each function (docs/aws.md), with dummy values: init reads them, calls nothing. */
const HANDLER_ENV: Readonly<Record<string, string>> = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  TABLE_NAME: 'pop3-bridge-state',
  BUCKET_NAME: 'pop3-bridge-store',
  POLL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/poll',
  DELIVERY_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/delivery',
  MAILBOX_PARAMETER_PATH: '/pop3-bridge/mailboxes',
  CONFIG_KEY_ARN: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
  POWERTOOLS_SERVICE_NAME: 'pop3-bridge',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  POWERTOOLS_METRICS_NAMESPACE: 'Pop3Bridge',
};

/** Runs in the fresh node: times the import alone, reports it and the RSS after it. */
const CHILD_SCRIPT = `
const t0 = performance.now();
const mod = await import(process.env.BENCH_BUNDLE_URL);
const ms = performance.now() - t0;
if (typeof mod.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ ms, rss: process.memoryUsage().rss }));
`;

interface Sample {
  readonly importMs: number;
  readonly processMs: number;
  readonly rssBytes: number;
}

async function measureOnce(bundle: HandlerBundle, sourceMaps: boolean): Promise<Sample> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...HANDLER_ENV,
    BENCH_BUNDLE_URL: pathToFileURL(bundle.path).href,
    ...(sourceMaps && { NODE_OPTIONS: '--enable-source-maps' }),
  };
  const result = await runProcess(process.execPath, ['--input-type=module', '-e', CHILD_SCRIPT], {
    timeoutMs: CHILD_TIMEOUT_MS,
    env,
  });
  if (result.code !== 0) {
    throw new Error(`${bundle.name}: node exited ${result.code ?? result.signal}:\n${result.stderr}`);
  }
  const out = JSON.parse(result.stdout) as { ms: number; rss: number };
  return { importMs: out.ms, processMs: result.ms, rssBytes: out.rss };
}

interface Measured {
  readonly name: HandlerName;
  readonly bytes: number;
  readonly mapBytes: number;
  /** Median import time with --enable-source-maps (as deployed) and without. */
  readonly initMs: number;
  readonly initNoMapsMs: number;
  readonly processMs: number;
  readonly rssBytes: number;
  readonly samples: ReadonlyArray<number>;
}

/** Package groups for the contents table: what a size change is traced to. */
const GROUPS: ReadonlyArray<readonly [string, RegExp]> = [
  // infra/bundling/: the credential provider BUNDLING substitutes for the SDK's default chain.
  ['AWS SDK', /node_modules\/(@aws-sdk|@smithy|@aws-crypto|fast-xml-parser|strnum|tslib|bowser)\/|^infra\/bundling\//],
  ['Powertools', /node_modules\/@aws-lambda-powertools\//],
  ['zod', /node_modules\/zod\//],
  [
    'MIME stack',
    // packages/: libmime's iconv-lite and encoding-japanese, mailparser's he, linkify-it and tlds (npm overrides,
    // see their READMEs).
    /^packages\/(iconv-lite-textdecoder|encoding-japanese-textdecoder|he-encode|linkify-it-unused|tlds-unused)\/|node_modules\/(mailparser|iconv-lite|libmime|libqp|libbase64|encoding-japanese|he|entities|htmlparser2|html-to-text|@zone-eu|tlds|linkify-it|uc\.micro|nodemailer|punycode\.js|parseley|selderee|@selderee|leac|peberminta|deepmerge(-ts)?|dom-serializer|domhandler|domutils|domelementtype)\//,
  ],
  ['our code', /^functions\//],
];

async function bundleContents(): Promise<Map<HandlerName, Map<string, number>>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-bundle-contents-'));
  try {
    const contents = new Map<HandlerName, Map<string, number>>();
    for (const name of HANDLER_NAMES) {
      const options = esbuildOptionsFrom(BUNDLING, handlerEntry(name), path.join(dir, name));
      const result = await build({ ...options, metafile: true });
      const output = Object.values((result.metafile as Metafile).outputs).find((o) => o.entryPoint !== undefined);
      const groups = new Map<string, number>();
      for (const [file, input] of Object.entries(output?.inputs ?? {})) {
        const group = GROUPS.find(([, pattern]) => pattern.test(file))?.[0] ?? 'other';
        groups.set(group, (groups.get(group) ?? 0) + input.bytesInOutput);
      }
      contents.set(name, groups);
    }
    return contents;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const args = parseArgs();
const runs = args.n ?? 5;
const kb = (bytes: number) => `${(bytes / 1000).toFixed(0)} kB`;
const ms = (value: number) => `${value.toFixed(0)} ms`;

const bundles = await bundleHandlers();
try {
  const measured: Measured[] = [];
  for (const name of HANDLER_NAMES) {
    const bundle = bundles.handlers[name];
    // One untimed run per mode: the bundle and node itself in the page cache, as on a warm Lambda host.
    await measureOnce(bundle, true);
    await measureOnce(bundle, false);
    const withMaps: Sample[] = [];
    const withoutMaps: Sample[] = [];
    for (let i = 0; i < runs; i += 1) {
      withMaps.push(await measureOnce(bundle, true));
      withoutMaps.push(await measureOnce(bundle, false));
    }
    measured.push({
      name,
      bytes: bundle.bytes,
      mapBytes: bundle.mapBytes,
      initMs: median(withMaps.map((s) => s.importMs)),
      initNoMapsMs: median(withoutMaps.map((s) => s.importMs)),
      processMs: median(withMaps.map((s) => s.processMs)),
      rssBytes: median(withMaps.map((s) => s.rssBytes)),
      samples: withMaps.map((s) => s.importMs),
    });
  }

  const headers = [
    'handler',
    'bundle',
    '≤ 1 MB',
    'source map',
    'init (source maps on)',
    '≤ 200 ms',
    'init (maps off)',
    'node spawn→exit',
    'RSS after init',
  ];
  const rows = measured.map((m) => [
    m.name,
    kb(m.bytes),
    m.bytes <= SIZE_TARGET_BYTES ? 'yes' : 'NO',
    kb(m.mapBytes),
    ms(m.initMs),
    m.initMs <= INIT_TARGET_MS ? 'yes' : 'NO',
    ms(m.initNoMapsMs),
    ms(m.processMs),
    `${(m.rssBytes / 1024 / 1024).toFixed(0)} MiB`,
  ]);
  console.log(`\nHandler bundles: size and cold module-init (median of ${runs} fresh node processes each)`);
  console.log(machineLine());
  console.log(table(headers, rows));
  for (const m of measured) console.log(`  ${m.name} init samples (maps on): ${m.samples.map(ms).join(', ')}`);

  const contents = await bundleContents();
  const groupNames = [...GROUPS.map(([group]) => group), 'other'];
  console.log('\nWhat each bundle is made of (bytes in the minified output, esbuild metafile)');
  console.log(
    table(
      ['handler', ...groupNames],
      HANDLER_NAMES.map((name) => [name, ...groupNames.map((group) => kb(contents.get(name)?.get(group) ?? 0))]),
    ),
  );

  const summary: SummaryRow[] = measured.flatMap((m) => [
    {
      bench: 'handlers-cold-init',
      figure: `${m.name} bundle size`,
      value: kb(m.bytes),
      target: '≤ 1 MB',
      met: m.bytes <= SIZE_TARGET_BYTES,
    },
    {
      bench: 'handlers-cold-init',
      figure: `${m.name} cold module-init (source maps on)`,
      value: ms(m.initMs),
      target: '≤ 200 ms',
      met: m.initMs <= INIT_TARGET_MS,
    },
  ]);
  await writeSummary(args, summary, markdownTable(headers, rows));
} finally {
  await bundles.cleanup();
}
