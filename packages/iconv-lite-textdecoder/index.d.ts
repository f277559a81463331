/** The part of iconv-lite's API libmime calls, decoded with TextDecoder (see README.md). */
export interface Decoder {
  write(buf: Uint8Array): string;
  end(): string | undefined;
}

export interface DecoderOptions {
  /** false keeps a leading byte order mark (iconv-lite's option). */
  stripBOM?: boolean;
  /** Byte order of "UTF-16" when neither a BOM nor the text tells it. */
  defaultEncoding?: string;
}

export interface Codec {
  /** The target: a WHATWG encoding name, 'latin1', 'utf16', 'single-byte:…' or 'refused:…'. */
  readonly encodingName: string;
  readonly supported: boolean;
  readonly decoder: new (options?: DecoderOptions) => Decoder;
}

/** One codec per target (aliases give the same object); throws for a name nobody knows. */
export function getCodec(encoding: string): Codec;
/** Throws for an unknown or refused charset. */
export function getDecoder(encoding: string, options?: DecoderOptions): Decoder;
/** A string is read as binary (one byte per character), as iconv-lite does. */
export function decode(buf: Uint8Array | string, encoding: string, options?: DecoderOptions): string;
/** False for unknown and refused charsets (UTF-7, UTF-32, base64, hex). */
export function encodingExists(encoding: string): boolean;
