/**
 * Access tokens for XOAUTH2 / OAUTHBEARER mailboxes, cached until shortly
 * before they expire.
 *
 * - Microsoft 365: the client-credentials grant (RFC 6749 §4.4) against the
 *   tenant's v2.0 token endpoint, scope `https://outlook.office365.com/.default`
 *   — the flow Microsoft documents for POP/IMAP service principals.
 * - Google: the refresh-token grant (RFC 6749 §6) against Google's token endpoint.
 * - static: a token given in the config, for tests and short-lived set-ups.
 *
 * Neither the client secret, the refresh token nor the access token ever
 * appears in an error: errors carry the endpoint's OAuth `error` code only.
 */
import { createHash } from 'node:crypto';
import { BridgeError } from '../errors.js';

export type OAuth2Source =
  | {
      readonly provider: 'microsoft';
      readonly tenantId: string;
      readonly clientId: string;
      readonly clientSecret: string;
      readonly scope: string;
      readonly tokenUrl?: string | undefined;
    }
  | {
      readonly provider: 'google';
      readonly clientId: string;
      readonly clientSecret: string;
      readonly refreshToken: string;
      readonly tokenUrl?: string | undefined;
    }
  | { readonly provider: 'static'; readonly accessToken: string };

export interface TokenSource {
  accessToken(source: OAuth2Source, signal?: AbortSignal): Promise<string>;
  /** Drops the cached token of `source` (the server refused it), so the next call asks the endpoint again. */
  forget?(source: OAuth2Source): void;
}

/** Refresh this long before the announced expiry, so a token never expires mid-login. */
const EXPIRY_MARGIN_MS = 120_000;

function tokenEndpoint(source: Exclude<OAuth2Source, { provider: 'static' }>): string {
  if (source.tokenUrl) return source.tokenUrl;
  return source.provider === 'microsoft'
    ? `https://login.microsoftonline.com/${encodeURIComponent(source.tenantId)}/oauth2/v2.0/token`
    : 'https://oauth2.googleapis.com/token';
}

function formFor(source: Exclude<OAuth2Source, { provider: 'static' }>): URLSearchParams {
  return source.provider === 'microsoft'
    ? new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: source.clientId,
        client_secret: source.clientSecret,
        scope: source.scope,
      })
    : new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: source.clientId,
        client_secret: source.clientSecret,
        refresh_token: source.refreshToken,
      });
}

/**
 * One cached token per set of credentials: every field that goes to the token endpoint, the secret included
 * (hashed, so the map holds no secret). Keyed without the client secret, a second mailbox with the same tenant and
 * client id got the first one's cached token whatever secret it had, even a wrong one, and never met the endpoint.
 */
function cacheKey(url: string, source: Exclude<OAuth2Source, { provider: 'static' }>): string {
  const credentials = JSON.stringify([
    source.clientId,
    source.clientSecret,
    source.provider === 'google' ? source.refreshToken : source.scope,
  ]);
  return `${url}\0${createHash('sha256').update(credentials).digest('hex')}`;
}

export function createTokenSource(
  options: { fetch?: typeof fetch; now?: () => number; timeoutMs?: number } = {},
): TokenSource {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { token: string; expiresAt: number }>();

  return {
    forget(source) {
      if (source.provider !== 'static') cache.delete(cacheKey(tokenEndpoint(source), source));
    },
    async accessToken(source, signal) {
      if (source.provider === 'static') return source.accessToken;
      const url = tokenEndpoint(source);
      const key = cacheKey(url, source);
      const cached = cache.get(key);
      if (cached && cached.expiresAt - EXPIRY_MARGIN_MS > now()) return cached.token;
      const timeout = AbortSignal.timeout(options.timeoutMs ?? 15_000);
      let response: Response;
      try {
        response = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: formFor(source),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          redirect: 'error',
        });
      } catch (error) {
        throw new BridgeError('OAUTH_ERR_TOKEN', `token request to ${new URL(url).host} failed`, { cause: error });
      }
      const body = (await response.json().catch(() => ({}))) as {
        access_token?: unknown;
        expires_in?: unknown;
        error?: unknown;
      };
      if (!response.ok || typeof body.access_token !== 'string') {
        const oauthError = typeof body.error === 'string' ? body.error.slice(0, 64) : `HTTP ${response.status}`;
        // invalid_client / invalid_grant will not fix themselves: not retryable.
        const permanent =
          oauthError === 'invalid_client' || oauthError === 'invalid_grant' || oauthError === 'unauthorized_client';
        throw new BridgeError('OAUTH_ERR_TOKEN', `token endpoint ${new URL(url).host} refused: ${oauthError}`, {
          retryable: !permanent,
          context: { provider: source.provider, status: response.status },
        });
      }
      const lifetime = typeof body.expires_in === 'number' ? body.expires_in : Number(body.expires_in ?? 3600);
      cache.set(key, {
        token: body.access_token,
        expiresAt: now() + (Number.isFinite(lifetime) ? lifetime : 3600) * 1000,
      });
      return body.access_token;
    },
  };
}
