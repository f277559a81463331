/**
 * Where mailboxes live: SecureString parameters under `/<prefix>/mailboxes/`,
 * encrypted with a customer-managed key this construct creates. CloudFormation
 * cannot create SecureString parameters, so operators add them with
 * `aws ssm put-parameter --type SecureString --key-id alias/<prefix>-mailboxes`
 * (docs/aws.md); the stack only owns the key and the grants.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { parameterArn } from './bridge-function.js';

export interface MailboxConfigProps {
  /** Path prefix without slashes, e.g. `pop3-bridge` → `/pop3-bridge/mailboxes/<name>`. */
  readonly prefix: string;
}

export class MailboxConfig extends Construct {
  readonly key: Key;
  /** `/<prefix>/mailboxes` (what GetParametersByPath is called with). */
  readonly path: string;
  readonly aliasName: string;
  /** ARN of the path itself: the resource GetParametersByPath is authorised on. */
  readonly pathArn: string;
  /** ARN pattern of every mailbox parameter: `…:parameter/<prefix>/mailboxes/*`. */
  readonly parametersArn: string;

  constructor(scope: Construct, id: string, props: MailboxConfigProps) {
    super(scope, id);
    this.path = `/${props.prefix}/mailboxes`;
    this.aliasName = `alias/${props.prefix}-mailboxes`;
    this.key = new Key(this, 'Key', {
      description: `pop3-bridge: encrypts the SecureString mailbox parameters under ${this.path}/`,
      enableKeyRotation: true,
      alias: this.aliasName,
      // Deleting the key makes every mailbox parameter unreadable: keep it, and wait the longest window.
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    this.pathArn = parameterArn(this, this.path);
    this.parametersArn = parameterArn(this, `${this.path}/*`);
  }
}
