/**
 * Benchmark 1: fetch a whole mailbox (default N = 5000 mixed messages, mean
 * ≈ 106 KiB) in leave mode, three ways, on the same Dovecot mailbox in the
 * same run:
 *
 *   ours   — Pop3Client over implicit TLS: login, uidl(), retrEach over all,
 *            each message streamed (`pipeline`) into its own file
 *   mpop   — mpop 1.4 into a maildir, uidls file cleared before each run
 *   raw    — a minimal node:tls loop: every RETR pipelined at once, bytes
 *            counted until N terminators (the floor for any Node client)
 *
 * plus a diagnostic row, "ours, no disk", the same client draining each body
 * into nothing, to separate the client's cost from the file writes.
 * Each is run 3 times in rotating order; the median is reported.
 *
 *   npx tsx bench/client-fetch.ts [--quick] [--n N]
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startDovecot } from '../test/support/dovecot.js';
import { connectOurs, countFiles, mpopReset, mpopSetup, rawPipelinedFetch, runMpop } from './contenders.js';
import { fillMailbox, mixedMessage } from './mailbox.js';
import {
  type BenchArgs,
  fmt,
  isMain,
  load,
  MiB,
  markdownTable,
  median,
  moveToTrash,
  parseArgs,
  REPEATS,
  requireProgram,
  rotating,
  type SummaryRow,
  setAside,
  table,
  tempDir,
  timed,
  writeSummary,
} from './support.js';

const SEED = 1;

type Contender = 'ours' | 'ours, no disk' | 'mpop' | 'raw';

export async function clientFetch(args: BenchArgs): Promise<{ rows: SummaryRow[]; markdown: string }> {
  await requireProgram('mpop');
  const n = args.n ?? (args.quick ? 500 : 5000);
  const dovecot = await startDovecot({ disposeDir: moveToTrash });
  const work = await tempDir('client-fetch', { afterDeletionsAged: true });
  try {
    const fill = await timed(() => fillMailbox(dovecot, n, (i) => mixedMessage(i, SEED)));
    const mailbox = fill.value;
    console.log(
      `mailbox: ${n} messages, ${fmt.mib(mailbox.bytes)} (mean ${(mailbox.bytes / n / 1024).toFixed(1)} KiB), written in ${fmt.ms(fill.ms)}`,
    );

    // Warm-up, untimed: Dovecot builds its index and uidlist on the first session.
    const warm = await connectOurs(dovecot.facts, mailbox);
    const listed = await warm.uidl();
    await warm.quit();
    if (listed.length !== n) throw new Error(`Dovecot lists ${listed.length} messages, expected ${n}`);

    const mpop = await mpopSetup(path.join(work, 'mpop'), dovecot.facts, mailbox);
    const oursDir = path.join(work, 'ours');
    let checked = false;

    const ours = async (): Promise<number> => {
      await setAside(oursDir);
      await mkdir(oursDir);
      const { ms } = await timed(async () => {
        const client = await connectOurs(dovecot.facts, mailbox);
        const entries = await client.uidl();
        const consumed = await client.retrEach(
          entries.map((e) => e.msg),
          (msg, body) => pipeline(body, createWriteStream(path.join(oursDir, `${msg}.eml`))),
          // Closing one file overlaps with reading the next body, as mpop's delivery overlaps its reads.
          { overlap: 4 },
        );
        await client.quit();
        if (consumed !== n) throw new Error(`ours fetched ${consumed} of ${n}`);
      });
      if (!checked) {
        // Once: every message arrived, byte for byte as long as on disk.
        const names = await readdir(oursDir);
        let bytes = 0;
        for (const name of names) bytes += (await stat(path.join(oursDir, name))).size;
        if (names.length !== n || bytes !== mailbox.bytes) {
          throw new Error(`ours wrote ${names.length} files, ${bytes} bytes; expected ${n}, ${mailbox.bytes}`);
        }
        checked = true;
      }
      return ms;
    };

    const oursNoDisk = async (): Promise<number> => {
      let bytes = 0;
      const { ms } = await timed(async () => {
        const client = await connectOurs(dovecot.facts, mailbox);
        const entries = await client.uidl();
        await client.retrEach(
          entries.map((e) => e.msg),
          (_msg, body) =>
            pipeline(
              body,
              new Writable({
                write(chunk: Buffer, _encoding, callback) {
                  bytes += chunk.length;
                  callback();
                },
              }),
            ),
        );
        await client.quit();
      });
      if (bytes !== mailbox.bytes) throw new Error(`ours (no disk) read ${bytes} bytes, expected ${mailbox.bytes}`);
      return ms;
    };

    const runMpopOnce = async (): Promise<number> => {
      await mpopReset(mpop, true);
      const { ms } = await runMpop(mpop);
      const delivered = await countFiles(path.join(mpop.maildir, 'new'));
      if (delivered !== n) throw new Error(`mpop delivered ${delivered} of ${n}`);
      return ms;
    };

    const raw = async (): Promise<number> => {
      const { ms, value } = await timed(() => rawPipelinedFetch(dovecot.facts, mailbox, n));
      if (value.terminators !== n) throw new Error(`raw counted ${value.terminators} terminators, expected ${n}`);
      return ms;
    };

    const results = await rotating<Contender>(
      REPEATS,
      [
        ['ours', ours],
        ['mpop', runMpopOnce],
        ['raw', raw],
        ['ours, no disk', oursNoDisk],
      ],
      (name, repeat, ms) => console.log(`  run ${repeat + 1}: ${name.padEnd(13)} ${fmt.ms(ms)}  (load ${load()})`),
    );

    const med = (k: Contender) => median(results[k]);
    const headers = ['contender', 'wall (median)', 'runs (ms)', 'msgs/s', 'MiB/s', 'vs mpop', 'vs raw'];
    const rowsFor = (order: ReadonlyArray<Contender>) =>
      order.map((k) => [
        k,
        fmt.ms(med(k)),
        fmt.runs(results[k]),
        fmt.rate(n, med(k)),
        fmt.mibps(mailbox.bytes, med(k)),
        fmt.ratio(med(k) / med('mpop')),
        fmt.ratio(med(k) / med('raw')),
      ]);
    const order: Contender[] = ['ours', 'mpop', 'raw', 'ours, no disk'];
    console.log(`\nclient-fetch: N=${n}, ${fmt.mib(mailbox.bytes)}, leave mode, implicit TLS, median of ${REPEATS}`);
    console.log(table(headers, rowsFor(order)));

    const oursVsMpop = med('ours') / med('mpop');
    const markdown = [
      `N = ${n} messages, ${(mailbox.bytes / MiB).toFixed(1)} MiB (mean ${(mailbox.bytes / n / 1024).toFixed(1)} KiB), median of ${REPEATS} runs:`,
      '',
      markdownTable(headers, rowsFor(order)),
    ].join('\n');
    return {
      markdown,
      rows: [
        {
          bench: 'client-fetch',
          figure: `ours wall, N=${n}`,
          value: `${fmt.ms(med('ours'))} (${fmt.mibps(mailbox.bytes, med('ours'))} MiB/s)`,
          target: '≤ 1.00× mpop',
          met: oursVsMpop <= 1,
        },
        {
          bench: 'client-fetch',
          figure: 'ours / mpop',
          value: fmt.ratio(oursVsMpop),
          target: '≤ 1.00×',
          met: oursVsMpop <= 1,
        },
        {
          bench: 'client-fetch',
          figure: 'ours / raw node:tls floor',
          value: fmt.ratio(med('ours') / med('raw')),
          target: '(reference)',
          met: true,
        },
      ],
    };
  } finally {
    await dovecot.stop();
    await moveToTrash(work);
  }
}

if (isMain(import.meta.url)) {
  const args = parseArgs();
  const { rows, markdown } = await clientFetch(args);
  await writeSummary(args, rows, markdown);
}
