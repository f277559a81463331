/**
 * Per-endpoint filters: deliver only messages whose From, To (or Cc) and
 * Subject match. Each field is a list of patterns, any of which may match; a
 * pattern is a case-insensitive glob (`*@example.com`) or a `/regex/flags`.
 * Every given field must match. Inputs are capped before matching so a hostile
 * 1 MB subject cannot make a user's regex run long.
 */
export interface FilterConfig {
  readonly from?: ReadonlyArray<string> | undefined;
  readonly to?: ReadonlyArray<string> | undefined;
  readonly subject?: ReadonlyArray<string> | undefined;
}

export interface FilterSubject {
  readonly from: ReadonlyArray<{ readonly address: string; readonly name: string }>;
  readonly to: ReadonlyArray<{ readonly address: string; readonly name: string }>;
  readonly cc: ReadonlyArray<{ readonly address: string; readonly name: string }>;
  readonly subject: string | null;
}

const MAX_MATCH_INPUT = 1000;

export function compilePattern(pattern: string): RegExp {
  const regex = /^\/(.+)\/([imsu]*)$/s.exec(pattern);
  if (regex) return new RegExp(regex[1] ?? '', regex[2]);
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${escaped}$`, 'i');
}

function anyMatches(patterns: ReadonlyArray<string> | undefined, values: ReadonlyArray<string>): boolean {
  if (!patterns || patterns.length === 0) return true;
  const compiled = patterns.map(compilePattern);
  return values.some((v) => compiled.some((re) => re.test(v.slice(0, MAX_MATCH_INPUT))));
}

export function matchesFilters(filters: FilterConfig | undefined, message: FilterSubject): boolean {
  if (!filters) return true;
  return (
    anyMatches(
      filters.from,
      message.from.map((a) => a.address),
    ) &&
    anyMatches(
      filters.to,
      [...message.to, ...message.cc].map((a) => a.address),
    ) &&
    anyMatches(filters.subject, [message.subject ?? ''])
  );
}
