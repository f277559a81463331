/**
 * What goes into each Lambda bundle, from esbuild's metafile with the CDK
 * construct's own options: each handler carries only what it uses. Guards
 * the per-handler runtime split (functions/aws/{runtime,poll-runtime,
 * delivery-runtime}.ts), the tree-shaken zod import, which took dispatch
 * from 1183 kB to 775 kB, and what BUNDLING's aliases and package.json's
 * overrides take out (issue 5: one libmime, one entities, no he or linkifier,
 * no default credential chain), which bundles can read SSM (only the
 * registry's: dispatch reads the registry in the state table, poll and deliver
 * the sealed configs of functions/aws/mailbox-configs.ts), and issue 5's size
 * budget of 1 MB per bundle:
 * a bundle's size is fixed by the sources and the lockfile, so it is a test;
 * init times move with the machine and are measured by
 * bench/handlers-cold-init.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLING } from '../../infra/constructs/bridge-function.js';
import {
  esbuildArgsOptions,
  esbuildOptionsFrom,
  HANDLER_NAMES,
  type HandlerName,
  handlerEntry,
} from '../support/bundle-handlers.js';

let dir: string;
const inputs = {} as Record<HandlerName, ReadonlyArray<string>>;
const bytes = {} as Record<HandlerName, number>;
/** Issue 5: each handler bundle ≤ 1 MB (decimal, as bench/handlers-cold-init.ts reports it). */
const BUNDLE_BUDGET_BYTES = 1_000_000;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-bundle-contents-'));
  await Promise.all(
    HANDLER_NAMES.map(async (name) => {
      const options = esbuildOptionsFrom(BUNDLING, handlerEntry(name), path.join(dir, name));
      const result = await build({ ...options, metafile: true });
      const outputs = Object.values((result.metafile as Metafile).outputs);
      const bundle = outputs.find((o) => o.entryPoint !== undefined);
      if (bundle === undefined) throw new Error(`no entry output for ${name}`);
      bytes[name] = bundle.bytes;
      // Only modules that left code in the bundle (tree-shaken ones have 0 bytes).
      inputs[name] = Object.entries(bundle.inputs)
        .filter(([, input]) => input.bytesInOutput > 0)
        .map(([file]) => file);
    }),
  );
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const has = (name: HandlerName, pattern: RegExp) => inputs[name].some((file) => pattern.test(file));

describe('handler bundles carry only what their handler uses', () => {
  it.each(HANDLER_NAMES)('%s is within the 1 MB budget', (name) => {
    expect(bytes[name]).toBeGreaterThan(100_000);
    expect(bytes[name]).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
  });

  it('dispatch has no POP3 client, OAuth2 token source, upload code or MIME parser', () => {
    expect(has('dispatch', /^functions\/aws\/runtime\.ts$/)).toBe(true);
    expect(has('dispatch', /^functions\/pop3\//)).toBe(false);
    expect(has('dispatch', /^functions\/core\/oauth\//)).toBe(false);
    expect(has('dispatch', /node_modules\/@aws-sdk\/lib-storage\//)).toBe(false);
    expect(has('dispatch', /node_modules\/mailparser\//)).toBe(false);
  });

  it('poll has the POP3 client and uploads, but no MIME parser or webhook delivery', () => {
    expect(has('poll', /^functions\/pop3\/client\.ts$/)).toBe(true);
    expect(has('poll', /^functions\/aws\/s3-part-upload\.ts$/)).toBe(true);
    expect(has('poll', /node_modules\/mailparser\//)).toBe(false);
    expect(has('poll', /^functions\/delivery\//)).toBe(false);
  });

  it('deliver has the MIME parser and delivery, but no POP3 client', () => {
    expect(has('deliver', /node_modules\/mailparser\//)).toBe(true);
    expect(has('deliver', /^functions\/delivery\/delivery-engine\.ts$/)).toBe(true);
    expect(has('deliver', /^functions\/pop3\//)).toBe(false);
  });

  it("deliver decodes charsets with the TextDecoder adapters, not iconv-lite's and encoding-japanese's code tables", () => {
    // package.json overrides libmime's iconv-lite and encoding-japanese with packages/*-textdecoder (see their READMEs).
    expect(has('deliver', /^packages\/iconv-lite-textdecoder\/index\.js$/)).toBe(true);
    expect(has('deliver', /^packages\/encoding-japanese-textdecoder\/index\.js$/)).toBe(true);
    expect(has('deliver', /node_modules\/(iconv-lite|encoding-japanese)\//)).toBe(false);
  });

  it('deliver has one libmime build, the CommonJS one mailsplit requires (BUNDLING aliases the ES imports to it)', () => {
    expect(has('deliver', /node_modules\/libmime\/dist\/cjs\/libmime\.js$/)).toBe(true);
    expect(has('deliver', /node_modules\/libmime\/dist\/esm\//)).toBe(false);
  });

  it("deliver has the in-repo stand-ins for mailparser's he, linkify-it and tlds, and one entities", () => {
    // package.json overrides (packages/he-encode, packages/linkify-it-unused, packages/tlds-unused: see their READMEs).
    expect(has('deliver', /^packages\/he-encode\/index\.js$/)).toBe(true);
    expect(has('deliver', /^packages\/linkify-it-unused\/index\.js$/)).toBe(true);
    expect(has('deliver', /node_modules\/(he|linkify-it|tlds|uc\.micro)\//)).toBe(false);
    // dom-serializer's entities is overridden to htmlparser2's 7.0.1: no 4.x lib/, no nested copy.
    expect(has('deliver', /node_modules\/entities\/dist\/esm\/decode\.js$/)).toBe(true);
    expect(
      inputs.deliver.filter((file) => /node_modules\/(.+\/node_modules\/)?entities\/(?!dist\/esm\/)/.test(file)),
    ).toEqual([]);
    expect(has('deliver', /node_modules\/.+\/node_modules\/entities\//)).toBe(false);
  });

  it.each(HANDLER_NAMES)("%s gets credentials only from Lambda's environment (no default chain)", (name) => {
    // BUNDLING aliases @aws-sdk/credential-provider-node to infra/bundling/lambda-env-credentials.ts.
    expect(has(name, /^infra\/bundling\/lambda-env-credentials\.ts$/)).toBe(true);
    expect(has(name, /node_modules\/@aws-sdk\/credential-provider-env\//)).toBe(true);
    expect(
      inputs[name].filter((file) =>
        /node_modules\/(@aws-sdk\/(credential-provider-(?!env\/)|nested-clients|token-providers)|@smithy\/credential-provider-imds)/.test(
          file,
        ),
      ),
    ).toEqual([]);
  });

  it("deliver signs through node:crypto: standardwebhooks' fast-sha256 is aliased away", () => {
    expect(has('deliver', /node_modules\/standardwebhooks\//)).toBe(true);
    expect(has('deliver', /^infra\/bundling\/fast-sha256-node-crypto\.ts$/)).toBe(true);
    expect(has('deliver', /node_modules\/fast-sha256\//)).toBe(false);
  });

  // dispatch validates no config (the registry function did, and it reads the registry): no zod at all.
  it('dispatch has no zod', () => {
    expect(inputs.dispatch.filter((file) => /node_modules\/zod\//.test(file))).toEqual([]);
  });

  it.each(HANDLER_NAMES.filter((name) => name !== 'dispatch'))(
    '%s has zod without its other locales (the namespace import is tree-shaken)',
    (name) => {
      expect(has(name, /node_modules\/zod\/v4\/core\/schemas\.js$/)).toBe(true);
      // `import { z }` pulled all ~40 locales (≈ 360 kB); zod's default English one stays.
      expect(has(name, /node_modules\/zod\/v4\/locales\/en\.js$/)).toBe(true);
      expect(inputs[name].filter((file) => /node_modules\/zod\/v4\/locales\/(?!en\.js$)/.test(file))).toEqual([]);
    },
  );
});

describe('the test bundler translates BUNDLING.esbuildArgs as aws-lambda-nodejs passes them', () => {
  it('--alias items become esbuild aliases; any other flag fails instead of being dropped', () => {
    expect(esbuildArgsOptions({ '--alias': ['a=./b.js', '@x/y=./z/w.ts'] })).toEqual({
      alias: { a: './b.js', '@x/y': './z/w.ts' },
    });
    expect(() => esbuildArgsOptions({ '--alias': ['no-equals-sign'] })).toThrow(/is not from=to/);
    expect(() => esbuildArgsOptions({ '--log-limit': '0' })).toThrow(/is not translated/);
    expect(() => esbuildOptionsFrom({ ...BUNDLING, esbuildArgs: { '--drop': 'console' } }, 'x.ts', '/tmp')).toThrow(
      /--drop/,
    );
  });
});

const SSM = /node_modules\/@aws-sdk\/client-ssm\//;
const PARAMETERS = /node_modules\/@aws-lambda-powertools\/parameters\//;
const KMS = /node_modules\/@aws-sdk\/client-kms\//;

describe('mailbox configs: who carries SSM and KMS', () => {
  it('only the registry bundle has the SSM client; none has Powertools parameters', () => {
    expect(HANDLER_NAMES.filter((name) => has(name, SSM))).toEqual(['registry']);
    expect(HANDLER_NAMES.filter((name) => has(name, PARAMETERS))).toEqual([]);
  });

  it('registry, poll and deliver have the KMS client and the sealed-config code; dispatch has neither', () => {
    expect(HANDLER_NAMES.filter((name) => has(name, KMS)).sort()).toEqual(['deliver', 'poll', 'registry']);
    expect(HANDLER_NAMES.filter((name) => has(name, /^functions\/aws\/sealed-config\.ts$/)).sort()).toEqual([
      'deliver',
      'poll',
      'registry',
    ]);
  });
});
