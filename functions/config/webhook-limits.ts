/**
 * Limits on a webhook's config that the delivery engine relies on too; kept
 * apart from schema.ts so the engine need not import the config schema.
 */

/** The longest answer timeout a webhook may set (`timeoutSeconds`); delivery claims are made to outlast it. */
export const MAX_WEBHOOK_TIMEOUT_SECONDS = 120;
