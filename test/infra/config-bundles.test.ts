/**
 * Which bundles can read SSM: only the registry function's. Dispatch reads the
 * registry in the state table, poll and deliver the sealed configs
 * (functions/aws/mailbox-configs.ts), so their bundles carry neither the SSM
 * client nor Powertools' parameters utility; dispatch carries no KMS client
 * either. From esbuild's metafile with the CDK construct's own options.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLING } from '../../infra/constructs/bridge-function.js';
import { esbuildOptionsFrom, HANDLER_NAMES, type HandlerName, handlerEntry } from '../support/bundle-handlers.js';

let dir: string;
const inputs = {} as Record<HandlerName, ReadonlyArray<string>>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-config-bundles-'));
  await Promise.all(
    HANDLER_NAMES.map(async (name) => {
      const result = await build({
        ...esbuildOptionsFrom(BUNDLING, handlerEntry(name), path.join(dir, name)),
        metafile: true,
      });
      const bundle = Object.values((result.metafile as Metafile).outputs).find((o) => o.entryPoint !== undefined);
      if (bundle === undefined) throw new Error(`no entry output for ${name}`);
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
