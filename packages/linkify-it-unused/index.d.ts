/** linkify-it's factory as mailparser uses it (see README.md): configuration only; finding links throws. */
export interface UnusedLinkifier {
  readonly configured: ReadonlyArray<readonly unknown[]>;
  add(schema: string, definition: unknown): UnusedLinkifier;
  set(options: unknown): UnusedLinkifier;
  tlds(list: string | readonly string[], keepOld?: boolean): UnusedLinkifier;
  test(text: string): never;
  pretest(text: string): never;
  testSchemaAt(text: string, schema: string, pos: number): never;
  match(text: string): never;
  matchAtStart(text: string): never;
  normalize(match: unknown): never;
  onCompile(): never;
}

declare function linkifyIt(schemas?: unknown, options?: unknown): UnusedLinkifier;
declare namespace linkifyIt {
  /** The message every link-finding call throws. */
  const NOT_INCLUDED: string;
}
export = linkifyIt;
