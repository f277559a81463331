/**
 * How long presigned links in AWS-mode events last: shared by the S3 store
 * (which clamps what it is asked for), the handlers' environment
 * (LINK_TTL_SECONDS) and the stack prop that sets it (`linkTtlSeconds`).
 * Kept apart from s3-raw-store.ts so the stack and every handler can read
 * them without importing the S3 client.
 *
 * A presigned URL also stops working when the temporary credentials that
 * signed it expire (the deliver function's role session), which can be
 * before this time: docs/webhooks.md tells receivers to fetch on arrival.
 */

/** Presigned GET links last this long unless configured otherwise (seconds). */
export const DEFAULT_LINK_TTL_SECONDS = 24 * 3600;
/** SigV4 presigned URLs cannot live longer than 7 days. */
export const MAX_LINK_TTL_SECONDS = 7 * 24 * 3600;
/** Shorter links than this would expire before a receiver that queues its work got to them. */
export const MIN_LINK_TTL_SECONDS = 60;
