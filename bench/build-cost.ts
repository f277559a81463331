/**
 * What an event build costs beyond the MIME parse itself (issue 4): the
 * e2e benchmark's mailbox (`mixedMessage`, 10–400 KiB, four in five with a
 * base64 attachment) stored in a folder store, then, alternated, each
 * message read from the store and
 *
 * - `mailparser only`: streamed through mailparser's `MailParser` with the
 *   options parse-mime.ts gives it, each attachment's content hashed with
 *   SHA-256 (the store's content address) and released — the part of a
 *   build the issue prescribes;
 * - `mailparser + attachments into the store`: the same, each attachment
 *   put into the folder store as a build stores it (hashed, written and
 *   renamed into place; attachments are not fsynced since 46801a5, see
 *   folder-raw-store.ts);
 * - `buildEventBody`: the whole build as an event worker runs it (parse,
 *   attachments written to the store, text, reply text, links, the JSON
 *   body).
 *
 * CPU per message is the process's (`process.cpuUsage`: every thread, so V8's
 * GC threads and libuv's fsyncs are in it), 4 builds at once as a worker
 * takes them. A diagnostic, not a contest: the difference is what our own
 * code around the parser costs.
 *
 *   npx tsx bench/build-cost.ts [--n N] [--repeats R]
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { MailParser } from 'mailparser';
import { type BuildEventInput, buildEventBody } from '../functions/events/build-event.js';
import { FolderRawStore } from '../functions/local/folder-raw-store.js';
import { localLinkSigner } from '../functions/local/link-server.js';
import { withoutOwnArgs } from './e2e-delivery.js';
import { mixedMessage } from './mailbox.js';
import { fmt, isMain, moveToTrash, parseArgs, table, tempDir } from './support.js';
import { repeatsArg } from './threads.js';

const SEED = 1;
const AT_ONCE = 4;

interface AttachmentData {
  readonly type: 'attachment';
  readonly content: Readable;
  readonly release: () => void;
}

/**
 * mailparser alone, as parse-mime.ts configures it (without its charset recorder and limits' bookkeeping);
 * with `store`, each attachment is put into it (hashed, written, renamed into place) instead of only hashed.
 */
async function parseOnly(source: Readable, store?: FolderRawStore): Promise<void> {
  const puts: Array<Promise<unknown>> = [];
  const parser = new MailParser({
    skipHtmlToText: false,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
    checksumAlgo: false,
  } as ConstructorParameters<typeof MailParser>[0]);
  parser.on('data', (data: AttachmentData | { type: 'text' }) => {
    if (data.type !== 'attachment') return;
    if (store) {
      puts.push(store.put(data.content, 'attachment').finally(data.release));
      return;
    }
    const hash = createHash('sha256');
    data.content.on('data', (chunk: Buffer) => hash.update(chunk));
    data.content.on('end', () => {
      hash.digest();
      data.release();
    });
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    source.on('error', reject);
    source.pipe(parser);
  });
  await Promise.all(puts);
}

/** CPU ms per message of `build` over every input, AT_ONCE at a time. */
async function cpuPerMessage(
  inputs: ReadonlyArray<BuildEventInput>,
  build: (input: BuildEventInput) => Promise<unknown>,
): Promise<{ cpu: number; system: number; wall: number }> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < inputs.length; i = next++) await build(inputs[i]!);
  };
  await Promise.all(Array.from({ length: AT_ONCE }, lane));
  const cpu = process.cpuUsage(cpuBefore);
  const perMessage = (us: number) => us / 1000 / inputs.length;
  return {
    cpu: perMessage(cpu.user + cpu.system),
    system: perMessage(cpu.system),
    wall: (performance.now() - started) / inputs.length,
  };
}

export async function buildCost(): Promise<void> {
  const args = parseArgs(withoutOwnArgs(process.argv.slice(2), ['--repeats']));
  const n = args.n ?? (args.quick ? 300 : 2000);
  const repeats = repeatsArg(3);
  const dir = await tempDir('build-cost', { afterDeletionsAged: true });
  try {
    // Every timed run gets a store of its own with the same raw messages: an attachment already in the store is
    // not written again (content-addressed), so a shared store would time the later runs without their writes.
    // Stores are kept until the end: files created next to many just-deleted ones cost far more on this ext4.
    let stores = 0;
    const freshStore = async (): Promise<{ store: FolderRawStore; inputs: BuildEventInput[]; bytes: number }> => {
      const store = new FolderRawStore(path.join(dir, `store-${stores++}`));
      const inputs: BuildEventInput[] = [];
      let bytes = 0;
      for (let i = 0; i < n; i += 1) {
        const raw = mixedMessage(i, SEED);
        bytes += raw.length;
        const stored = await store.put(Readable.from([raw]), 'raw');
        inputs.push({
          mailbox: 'bench',
          uid: `u${i}`,
          rawKey: stored.key,
          rawSha256: stored.sha256,
          rawSize: stored.size,
        });
      }
      return { store, inputs, bytes };
    };
    const warm = await freshStore();
    console.log(`${n} messages, ${fmt.mib(warm.bytes)}, ${AT_ONCE} builds at once; CPU is the whole process's`);
    const links = localLinkSigner({ baseUrl: 'http://127.0.0.1:8025', key: Buffer.alloc(32, 7), ttlSeconds: 3600 });
    type Build = (store: FolderRawStore, input: BuildEventInput) => Promise<unknown>;
    const contenders: Array<readonly [string, Build]> = [
      ['mailparser only (+ attachment SHA-256)', async (store, input) => parseOnly(await store.get(input.rawKey))],
      [
        'mailparser + attachments into the store',
        async (store, input) => parseOnly(await store.get(input.rawKey), store),
      ],
      [
        'buildEventBody (as a worker builds)',
        (store, input) => buildEventBody(input, { store, links, inlineMaxBytes: 0 }),
      ],
    ];
    // One untimed pass of each first: the JIT's warm-up is not what this measures.
    for (const [, build] of contenders) {
      await cpuPerMessage(warm.inputs.slice(0, Math.min(n, 300)), (input) => build(warm.store, input));
    }
    const rows: string[][] = [];
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      // Rotating order: no contender always runs first (or right after another's writes).
      const order = [
        ...contenders.slice(repeat % contenders.length),
        ...contenders.slice(0, repeat % contenders.length),
      ];
      for (const [name, build] of order) {
        const { store, inputs } = await freshStore();
        const { cpu, system, wall } = await cpuPerMessage(inputs, (input) => build(store, input));
        rows.push([String(repeat + 1), name, cpu.toFixed(3), system.toFixed(3), wall.toFixed(3)]);
      }
    }
    console.log(table(['run', 'what', 'CPU ms/msg', 'of it system', 'wall ms/msg'], rows));
  } finally {
    await moveToTrash(dir);
  }
}

if (isMain(import.meta.url)) await buildCost();
