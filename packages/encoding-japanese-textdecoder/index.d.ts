/** The one encoding-japanese call libmime makes, decoded with TextDecoder (see README.md). */
export interface ConvertOptions {
  to: 'UNICODE';
  /** A name matching /^jis|^iso-?2022-?jp/i (ISO-2022-JP, JIS X 0212 included) or /^euc-?jp/i. */
  from: string;
  type: 'string';
}

/** Throws for any other conversion: libmime then decodes with its iconv-lite. */
export function convert(data: Uint8Array | ArrayLike<number> | string, options: ConvertOptions): string;
