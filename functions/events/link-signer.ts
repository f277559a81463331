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
  /**
   * Store key of the raw message the object was derived from (an attachment, a body too long for its
   * event). Local links carry it, signed, so the link server can rebuild an object an OS crash damaged
   * (functions/local/folder-raw-store.ts); presigned S3 links have no use for it.
   */
  readonly source?: string;
}

export interface LinkSigner {
  linkFor(key: string, meta: LinkMeta): Promise<string>;
}
