/**
 * Shared parts of the benchmarks: argument parsing, timing, medians, tables,
 * running an external program with a bound on its time, and the summary rows
 * `bench/run.ts` collects from each benchmark.
 *
 * Benchmarks print figures and ratios against baselines measured in the same
 * run; they are not pass/fail tests.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const MiB = 1024 * 1024;
export const REPEATS = 3;
export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.dirname(BENCH_DIR);

export interface BenchArgs {
  /** Smaller N, for a quick look (figures are then not the ones to quote). */
  readonly quick: boolean;
  /** Where to write this benchmark's summary rows as JSON (set by bench/run.ts). */
  readonly summaryFile: string | undefined;
  /** Explicit N, overriding the default and --quick. */
  readonly n: number | undefined;
}

export function parseArgs(argv: ReadonlyArray<string> = process.argv.slice(2)): BenchArgs {
  let quick = false;
  let summaryFile: string | undefined;
  let n: number | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--summary') summaryFile = argv[++i];
    else if (arg === '--n') n = Number.parseInt(argv[++i] ?? '', 10);
    else throw new Error(`unknown argument ${arg} (known: --quick, --n N, --summary FILE)`);
  }
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 1)) throw new Error('--n needs a positive integer');
  return { quick, summaryFile, n };
}

/** True when `importMetaUrl` is the module node was asked to run (not imported by bench/run.ts). */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && path.resolve(entry) === fileURLToPath(importMetaUrl);
}

export function median(values: ReadonlyArray<number>): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

export const fmt = {
  ms: (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 100 ? 1 : 0)} ms`),
  ratio: (r: number): string => `${r.toFixed(2)}×`,
  mib: (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`,
  rate: (count: number, ms: number): string => (count / (ms / 1000)).toFixed(0),
  mibps: (bytes: number, ms: number): string => (bytes / MiB / (ms / 1000)).toFixed(1),
  runs: (values: ReadonlyArray<number>): string => values.map((v) => v.toFixed(0)).join(' / '),
};

/** A plain-text table, columns padded; the first column left-aligned, the rest right-aligned. */
export function table(headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table as Markdown, for docs/performance.md. */
export function markdownTable(headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const line = (cells: ReadonlyArray<string>) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** One line of the summary `npm run bench` prints: a figure, what it is compared with, and the target. */
export interface SummaryRow {
  readonly bench: string;
  readonly figure: string;
  readonly value: string;
  readonly target: string;
  readonly met: boolean;
}

export async function writeSummary(args: BenchArgs, rows: ReadonlyArray<SummaryRow>, markdown: string): Promise<void> {
  if (args.summaryFile === undefined) return;
  await writeFile(args.summaryFile, JSON.stringify({ rows, markdown }, null, 2));
}

/**
 * The isMain block of a benchmark measured at several sizes: each size in turn (a fresh run each), one summary
 * of all of them; `--n N` or `--quick` runs the benchmark once at the size it picks for those.
 */
export async function runAtSizes(
  args: BenchArgs,
  sizes: ReadonlyArray<number>,
  bench: (args: BenchArgs) => Promise<{ rows: SummaryRow[]; markdown: string }>,
): Promise<void> {
  const runs = args.n !== undefined || args.quick ? [args] : sizes.map((n) => ({ ...args, n }));
  const rows: SummaryRow[] = [];
  const sections: string[] = [];
  for (const run of runs) {
    const result = await bench(run);
    rows.push(...result.rows);
    sections.push(result.markdown);
  }
  await writeSummary(args, rows, sections.join('\n\n'));
}

export async function readSummary(file: string): Promise<{ rows: SummaryRow[]; markdown: string }> {
  return JSON.parse(await readFile(file, 'utf8')) as { rows: SummaryRow[]; markdown: string };
}

/**
 * Why benchmarks do not delete what they wrote, but move it to a trash folder: on this machine's ext4 without a
 * journal, creating a file scans past every inode of its block group deleted in the last 60 s — and in the last
 * 6 minutes while that inode-table block is dirty (fs/ext4/ialloc.c, recently_deleted) —, 250–900 µs of CPU per
 * create instead of 7–20 µs. A benchmark's end deletes 10,000–25,000 files (its store, Dovecot's maildir), and
 * the next one paid it on every file it wrote. Waiting 90 s after the deletions was not enough: the next
 * benchmark's own creates dirty those inode-table blocks again, which stretches the window to 6 minutes.
 * `perf record -a` of `bench/threads.ts --n 2000` started 3 minutes after another benchmark's deletions
 * (2026-11-29 02:38 UTC): 25 % of the bridge's samples in the first 10 s of the timed run were this scan
 * (find_inode_bit → recently_deleted → find_get_block_common, and waiters spinning on the folder's lock), 9 % in
 * the next 10 s. So work is renamed into TRASH_DIR (a rename frees no inode), and the trash is emptied only when
 * the disk runs low, after which the benchmark waits out the window (emptyTrashIfLow).
 */
const TRASH_DIR = path.join(tmpdir(), 'pop3-bridge-bench-trash');
/** When the trash was last emptied (epoch ms), for the wait after it. */
const DELETIONS_MARKER = path.join(tmpdir(), 'pop3-bridge-bench-deleted-at');
/** How long after deleting many files a benchmark that creates many waits: the kernel's 6-minute window, plus writeback. */
const DELETIONS_AGE_MS = 400_000;
/** The trash is emptied when the file system holding it has less than this free. */
const MIN_FREE_BYTES = 24 * 1024 * MiB;

export async function tempDir(prefix: string, { afterDeletionsAged = false } = {}): Promise<string> {
  if (afterDeletionsAged) {
    await emptyTrashIfLow();
    await waitForAgedDeletions();
  }
  return mkdtemp(path.join(tmpdir(), `pop3-bridge-bench-${prefix}-`));
}

let trashed = 0;

/**
 * Moves `dir` (or a file) into the trash; nothing happens when it does not exist. Something on another file
 * system (a tmpfs under /dev/shm) cannot be renamed there and is deleted instead: deletions on a tmpfs do not
 * slow the creates on ext4.
 */
export async function moveToTrash(dir: string): Promise<void> {
  await mkdir(TRASH_DIR, { recursive: true, mode: 0o700 });
  try {
    await rename(dir, path.join(TRASH_DIR, `${path.basename(dir)}-${process.pid}-${Date.now()}-${++trashed}`));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EXDEV') await rm(dir, { recursive: true, force: true });
    else if (code !== 'ENOENT') throw error;
  }
}

/** Deletes the trash when the disk has less than MIN_FREE_BYTES free, and records when. */
async function emptyTrashIfLow(): Promise<void> {
  const disk = await statfs(tmpdir());
  const free = disk.bavail * disk.bsize;
  if (free >= MIN_FREE_BYTES) return;
  console.log(`${fmt.mib(free)} free on the disk: emptying the benchmarks' trash (${TRASH_DIR})`);
  await rm(TRASH_DIR, { recursive: true, force: true });
  await writeFile(DELETIONS_MARKER, String(Date.now()));
}

/** Waits until DELETIONS_AGE_MS have passed since the trash was last emptied. */
async function waitForAgedDeletions(): Promise<void> {
  const last = Number.parseInt(await readFile(DELETIONS_MARKER, 'utf8').catch(() => '0'), 10);
  const waitMs = Number.isFinite(last) ? last + DELETIONS_AGE_MS - Date.now() : 0;
  // Bounded: a marker from the future (clock change) waits at most one window.
  if (waitMs <= 0) return;
  const ms = Math.min(waitMs, DELETIONS_AGE_MS);
  console.log(`waiting ${(ms / 1000).toFixed(0)} s for the deletions of the trash to age (see moveToTrash)`);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * CPU time (µs) per file created in `dir`: `files` empty files, made and then removed. Benchmarks that
 * write a file per message print it beside their figures, because on this machine it is a property of
 * the file system at the time, not of the code: ext4 here is mounted without a journal, and its inode
 * allocator (find_inode_bit → recently_deleted, at the top of `perf` profiles) took 18–23 µs per create
 * at some times and 550–910 µs at others on 2026-11-27, in the same directory tree.
 */
export function fileCreateCpuUs(dir: string, files = 500): number {
  const probe = path.join(dir, `.create-probe-${process.pid}`);
  mkdirSync(probe, { recursive: true });
  const before = process.cpuUsage();
  for (let i = 0; i < files; i++) closeSync(openSync(path.join(probe, String(i)), 'wx'));
  const used = process.cpuUsage(before);
  // Left in place (the work directory goes at the end): deleting them would make the next creates dearer.
  return (used.user + used.system) / files;
}

let setAsideCount = 0;

/**
 * Moves `dir` out of the way between runs — renamed into `.set-aside/` beside it — instead of deleting it; the
 * files go with the benchmark's work directory at the end. Why: this machine's root file system is ext4 without
 * a journal, where creating a file within ~30 s of deletions scans past every recently deleted inode of the
 * block group (fs/ext4/ialloc.c: find_inode_bit → recently_deleted, seen at the top of `perf` profiles of the
 * poll): 400–900 µs of CPU per create instead of ~20 µs. Deleting the previous run's 5,000–9,000 files just
 * before a run charged that to whichever contender came next, more to the one that writes more files.
 *
 * An inode counts as recently deleted only when its deletion time is *before* the current second, so a test
 * that creates files in the same second as the deletions sees cheap creates (this was once reverted on such
 * a test). Measured 2026-11-27: 6,000 files deleted, then 2,000 created at once: 64 µs per create; the same
 * 2 s later: 620 µs; 12 s later still 670 µs.
 */
export async function setAside(dir: string): Promise<void> {
  const aside = path.join(path.dirname(dir), '.set-aside');
  await mkdir(aside, { recursive: true });
  try {
    await rename(dir, path.join(aside, `${path.basename(dir)}-${++setAsideCount}`));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Runs a program to its end (no shell), timing it from spawn to exit. Killed
 * with SIGKILL after `timeoutMs`, so no benchmark can hang.
 */
export function runProcess(
  command: string,
  args: ReadonlyArray<string>,
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    // Keep only the tail: a chatty program must not fill our memory.
    const keep = (s: string) => (s.length > 64 * 1024 ? s.slice(-64 * 1024) : s);
    child.stdout.on('data', (c: Buffer) => {
      stdout = keep(stdout + c.toString('utf8'));
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr = keep(stderr + c.toString('utf8'));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - start) / 1e6 });
    });
  });
}

/** Fails loudly when a program the benchmark needs is missing, naming the script that installs it. */
export async function requireProgram(name: string): Promise<void> {
  const found = await runProcess('sh', ['-c', `command -v ${name}`], { timeoutMs: 10_000 });
  if (found.code !== 0) throw new Error(`${name} is not installed: run 'bash bench/install-deps.sh'`);
}

/**
 * Runs `steps` in a rotating order on each repeat, so no contender always goes first (cache, CPU clock).
 * Before each step, `sync` flushes the dirty pages the previous one left, so no run pays for another's writeback.
 */
export async function rotating<K extends string>(
  repeats: number,
  steps: ReadonlyArray<readonly [K, () => Promise<number>]>,
  onResult?: (name: K, repeat: number, ms: number) => void,
): Promise<Record<K, number[]>> {
  const results = Object.fromEntries(steps.map(([k]) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < repeats; r += 1) {
    for (let i = 0; i < steps.length; i += 1) {
      const [name, step] = steps[(i + r) % steps.length]!;
      await settle();
      const ms = await step();
      results[name].push(ms);
      onResult?.(name, r, ms);
    }
  }
  return results;
}

/** Flushes dirty pages to disk (untimed), so the next timed step starts from a quiet disk. */
export async function settle(): Promise<void> {
  await runProcess('sync', [], { timeoutMs: 5 * 60_000 });
}

/**
 * Milliseconds the whole machine's CPUs have spent waiting for I/O since boot (/proc/stat's iowait; Linux's
 * USER_HZ is 100). A run whose iowait jumps was held up by the disk, which on this machine is shared with
 * other virtual machines and sometimes stalls fsyncs for seconds: those runs say so beside their time.
 */
export function ioWaitMs(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
    return Number(fields[5]) * 10;
  } catch {
    return Number.NaN;
  }
}

/** The 1-minute load average: other work on a shared machine shows up here and in the spread of the runs. */
export function load(): string {
  return os.loadavg()[0]!.toFixed(2);
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, node ${process.version}, ${os.type()} ${os.release()}`;
}

/**
 * A bench child (bench/<entry>) as one ESM bundle beside the repo's node_modules, the form the CLI and the
 * Lambda handlers run in (no TypeScript loader thread in the figure). better-sqlite3 stays external: it is native.
 */
export async function bundleBenchChild(entry: string): Promise<string> {
  return bundleForBench(path.join(BENCH_DIR, entry));
}

/** Any module (absolute path) as one ESM bundle in bench/.work, as bundleBenchChild makes them; returns its path. */
export async function bundleForBench(entryPath: string): Promise<string> {
  const outfile = path.join(BENCH_DIR, '.work', path.basename(entryPath).replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [entryPath],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    external: ['better-sqlite3', 'better-sqlite3-13'],
    logLevel: 'error',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  return outfile;
}

/**
 * The `node` binary of AWS mode's Lambda runtime (Node 24, Runtime.NODEJS_24_X), fetched by
 * scripts/lambda-node.sh on first use, so benchmarks can run the handler bundles on it.
 */
export function lambdaNodeBinary(): string {
  const dir = execFileSync('bash', [path.join(REPO_DIR, 'scripts', 'lambda-node.sh')], { encoding: 'utf8' }).trim();
  return path.join(dir, 'node');
}
