/** he 1.2.0's `encode`, for the options mailparser passes (see README.md). */
export interface EncodeOptions {
  useNamedReferences?: boolean;
}

export interface He {
  readonly version: string;
  encode(text: string, options?: EncodeOptions): string;
  /** Not included: these throw (mailparser calls only `encode`). */
  decode(html: string): never;
  escape(text: string): never;
  unescape(html: string): never;
}

declare const he: He;
export = he;
