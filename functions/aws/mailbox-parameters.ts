/**
 * The mailbox parameters in SSM Parameter Store, as only the registry function
 * reads them (no other handler imports this file, so no other bundle carries
 * the SSM client): one parameter decrypted when SSM reports a change, and the
 * names and versions of all of them, not decrypted, for the hourly reconcile.
 */
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { AwsConfig } from './clients.js';
import { MAILBOX_NAME } from './mailbox-document.js';

/** GetParametersByPath pages of 10 per reconcile: 50,000 mailboxes, so a broken NextToken cannot loop forever. */
const MAX_LIST_PAGES = 5_000;

/**
 * SSM's ParameterNotFound (the SDK's error name; also when wrapped as a cause).
 */
export function isParameterNotFound(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    if ((current as { name?: unknown }).name === 'ParameterNotFound') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export interface MailboxParameter {
  readonly version: number;
  /** The decrypted JSON document: holds passwords and webhook secrets, never logged. */
  readonly value: string;
}

export interface MailboxParameters {
  /** `/<prefix>/mailboxes/` */
  readonly path: string;
  /** The mailbox name of parameter `fullName`, or undefined when it is not directly under the path. */
  nameOf(fullName: string): string | undefined;
  /** The parameter decrypted (GetParameter; SSM makes one kms:Decrypt), or undefined when it does not exist. */
  read(name: string): Promise<MailboxParameter | undefined>;
  /** Every mailbox parameter's version, by name (GetParametersByPath without decryption: no KMS). */
  versions(onTruncated?: (pages: number) => void): Promise<Map<string, number>>;
}

export function mailboxParameters(aws: AwsConfig, path: string): MailboxParameters {
  const ssm = new SSMClient({
    region: aws.region,
    ...(aws.endpoint !== undefined && { endpoint: aws.endpoint }),
    ...(aws.credentials !== undefined && { credentials: { ...aws.credentials } }),
  });
  const nameOf = (fullName: string): string | undefined => {
    if (!fullName.startsWith(path)) return undefined;
    const name = fullName.slice(path.length);
    return MAILBOX_NAME.test(name) ? name : undefined;
  };
  return {
    path,
    nameOf,
    async read(name) {
      const out = await ssm
        .send(new GetParameterCommand({ Name: `${path}${name}`, WithDecryption: true }))
        .catch((error: unknown) => {
          if (isParameterNotFound(error)) return undefined;
          throw error;
        });
      const p = out?.Parameter;
      if (p?.Value === undefined || p.Version === undefined) return undefined;
      return { version: p.Version, value: p.Value };
    },
    async versions(onTruncated) {
      const versions = new Map<string, number>();
      let nextToken: string | undefined;
      for (let page = 0; page < MAX_LIST_PAGES; page += 1) {
        const out = await ssm.send(
          new GetParametersByPathCommand({
            Path: path.slice(0, -1),
            Recursive: false,
            WithDecryption: false,
            MaxResults: 10,
            NextToken: nextToken,
          }),
        );
        for (const p of out.Parameters ?? []) {
          const name = p.Name === undefined ? undefined : nameOf(p.Name);
          if (name !== undefined && p.Version !== undefined) versions.set(name, p.Version);
        }
        nextToken = out.NextToken;
        if (nextToken === undefined || nextToken === '') return versions;
      }
      onTruncated?.(MAX_LIST_PAGES);
      return versions;
    },
  };
}
