import { expect, it } from 'vitest';
import { formatBytes, progressBar, table } from '../../functions/cli/output.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
}

it('draws a progress bar only on a terminal and only for a large sync', () => {
  const tty = fakeStream(true);
  const bar = progressBar('inbox', tty.stream);
  bar.update(5, 10, 1000); // small sync: no bar
  expect(tty.writes).toEqual([]);
  bar.update(50, 100, 5 * 1024 * 1024);
  expect(tty.writes.at(-1)).toBe(`\rinbox [${'#'.repeat(15)}${' '.repeat(15)}] 50/100 messages, 5.0 MB`);
  bar.end();
  expect(tty.writes.at(-1)).toBe('\n');

  const pipe = fakeStream(false);
  const quiet = progressBar('inbox', pipe.stream);
  quiet.update(50, 100, 1);
  quiet.end();
  expect(pipe.writes).toEqual([]);
});

it('formats sizes and aligned tables', () => {
  expect(formatBytes(512)).toBe('512 B');
  expect(formatBytes(1536)).toBe('1.5 KB');
  expect(formatBytes(250 * 1024 * 1024)).toBe('250 MB');
  expect(table(['A', 'LONG'], [['xx', 'y']])).toBe('A   LONG\n--  ----\nxx  y');
});
