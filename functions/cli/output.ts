/** Human output for the CLI: aligned tables, sizes, and a one-line progress bar on a TTY. */

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatTime(epochMs: number | undefined): string {
  if (epochMs === undefined || epochMs <= 0) return '-';
  return new Date(epochMs).toISOString().replace('T', ' ').slice(0, 19);
}

export function table(headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A progress bar on stderr, drawn only when stderr is a terminal and the job is large enough to need one. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr) {
  let drawn = false;
  return {
    update(done: number, total: number, bytes: number): void {
      if (!stream.isTTY || total < 20) return;
      const width = 30;
      const filled = Math.round((done / Math.max(total, 1)) * width);
      stream.write(
        `\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} messages, ${formatBytes(bytes)}`,
      );
      drawn = true;
    },
    end(): void {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
