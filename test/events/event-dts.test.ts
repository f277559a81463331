/**
 * `docs/event.d.ts`, the event's types for receivers: current, self-contained, and usable by a strict
 * receiver that has nothing of the bridge but that file. That it matches the bridge's own types is proven
 * at compile time by `event-dts.typecheck.ts` (`npm run typecheck`).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEventDts } from '../../functions/events/event-dts.js';
import { buildEventJsonSchema } from '../../functions/events/json-schema.js';
import { EVENT_DTS_PATH } from '../../functions/events/write-json-schema.js';

const run = promisify(execFile);
const REPO = path.join(import.meta.dirname, '../..');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** A receiver's settings, as strict as ours, with no @types and no skipLibCheck: the .d.ts itself is checked. */
const STRICT = {
  target: 'ES2022',
  lib: ['ES2022'],
  types: [],
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  noEmit: true,
};

/** Runs tsc on a project; returns its diagnostics, one per line (empty when it compiled). */
async function tsc(project: string): Promise<string[]> {
  try {
    await run(process.execPath, [TSC, '-p', '.', '--pretty', 'false'], { cwd: project });
    return [];
  } catch (error) {
    const { stdout } = error as { stdout?: string };
    if (stdout === undefined || stdout.trim() === '') throw error;
    return stdout.trim().split('\n');
  }
}

async function project(dir: string, compilerOptions: Record<string, unknown>, files: Record<string, string>) {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  await writeFile(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { ...STRICT, ...compilerOptions }, files: Object.keys(files) }),
  );
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
}

// Uses every kind of field: nullable strings, arrays of objects, the optional `content`, the disposition union
// (the switch must be exhaustive, or the function could return undefined: TS2366).
const RECEIVER = `import type { Attachment, EmailReceivedEvent } from './event.js';

export function summarise(body: string): string {
  const event = JSON.parse(body) as EmailReceivedEvent;
  const { data } = event;
  const from = data.from[0]?.address ?? '';
  const text = data.truncated.text ? data.textUrl : data.text;
  const files = data.attachments.map(describe).join(', ');
  return [event.type, event.timestamp, data.mailbox, data.uid, from, data.subject ?? '', text, files].join(' ');
}

function describe(attachment: Attachment): string {
  switch (attachment.disposition) {
    case 'attachment':
      return \`\${attachment.filename ?? 'unnamed'} (\${attachment.size} bytes)\`;
    case 'inline':
      return attachment.content === undefined ? (attachment.url ?? '') : attachment.content.slice(0, 8);
  }
}
`;

// Mistakes the types must catch, one per line: a nullable field used as a string, a field that does not
// exist, a disposition that cannot occur.
const MISUSE = `import type { EmailReceivedEvent } from './event.js';

export function wrong(event: EmailReceivedEvent): unknown[] {
  return [
    event.data.subject.toUpperCase(),
    event.data.recipient,
    event.data.attachments.filter((a) => a.disposition === 'other'),
  ];
}
`;

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'pop3-bridge-event-dts-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('docs/event.d.ts', () => {
  it('equals a fresh generation (run `npx tsx functions/events/write-json-schema.ts` after changing the schema)', async () => {
    expect(await readFile(EVENT_DTS_PATH, 'utf8')).toBe(await renderEventDts());
  });

  it('imports nothing, and carries every description of the JSON Schema as JSDoc', async () => {
    const text = await readFile(EVENT_DTS_PATH, 'utf8');
    expect(text).not.toMatch(/^\s*import\b|^\s*export\s.*\sfrom\s|\/\/\/\s*<reference|\brequire\(/m);
    const descriptions: string[] = [];
    JSON.stringify(buildEventJsonSchema(), (key, value) => {
      if (key === 'description' && typeof value === 'string') descriptions.push(value);
      return value;
    });
    expect(descriptions.length).toBeGreaterThan(40);
    for (const description of descriptions) expect(text).toContain(` * ${description}\n`);
  });

  it('compiles, alone, in a strict receiver that uses it, and makes tsc reject misuse', async () => {
    const dir = path.join(work, 'receiver');
    await project(
      dir,
      { module: 'NodeNext', moduleResolution: 'NodeNext' },
      {
        'receiver.ts': RECEIVER,
        'misuse.ts': MISUSE,
      },
    );
    await copyFile(EVENT_DTS_PATH, path.join(dir, 'event.d.ts'));
    const diagnostics = await tsc(dir);
    // All of them in misuse.ts, none in receiver.ts or event.d.ts.
    expect(diagnostics.map((line) => line.replace(/: .*/, ''))).toEqual([
      'misuse.ts(5,5)', // TS18047 'event.data.subject' is possibly 'null'
      'misuse.ts(6,16)', // TS2339 Property 'recipient' does not exist
      'misuse.ts(7,42)', // TS2367 'attachment' | 'inline' and 'other' have no overlap
    ]);
    expect(diagnostics.map((line) => line.match(/error (TS\d+)/)?.[1])).toEqual(['TS18047', 'TS2339', 'TS2367']);
  });

  it.each([
    ['NodeNext', { module: 'NodeNext', moduleResolution: 'NodeNext' }],
    ['bundler', { module: 'ESNext', moduleResolution: 'bundler' }],
  ])('is what `pop3-bridge/event` resolves to (package.json exports, %s resolution)', async (name, options) => {
    const dir = path.join(work, `consumer-${name}`);
    await project(dir, options, {
      'receiver.ts': RECEIVER.replace("'./event.js'", "'pop3-bridge/event'"),
    });
    await mkdir(path.join(dir, 'node_modules'));
    await symlink(REPO, path.join(dir, 'node_modules/pop3-bridge'), 'dir');
    expect(await tsc(dir)).toEqual([]);
  });
});
