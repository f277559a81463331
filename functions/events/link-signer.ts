/**
 * How the event builder turns a store key into a URL a receiver can fetch.
 * AWS mode presigns S3 GET URLs; local mode signs expiring URLs served by the
 * bridge (functions/local/link-server.ts). Links expire: receivers fetch
 * what they need when the event arrives.
 */
export interface LinkMeta {
  /** Suggested download name (Content-Disposition), untrusted: the signer must encode it. */
  readonly filename?: string;
  /** Content-Type to serve the object with. */
  readonly contentType?: string;
}

export interface LinkSigner {
  linkFor(key: string, meta: LinkMeta): Promise<string>;
}
