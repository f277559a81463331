/**
 * CDK app entry (`cdk.json`: `npx tsx infra/app.ts`). Synthesises offline: the
 * stack is environment-agnostic and looks nothing up. cdk-nag's AwsSolutions
 * checks run on every synth; any unacknowledged finding fails it.
 */
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BridgeStack } from './bridge-stack.js';
import { configFromContext } from './context.js';

const app = new App();
const config = configFromContext(app.node);
new BridgeStack(app, config.stackName, {
  ...config.props,
  description: 'pop3-bridge: POP3 mailboxes to signed webhooks (EventBridge, Lambda, SQS, S3, DynamoDB, SSM)',
});
// Cost allocation and ownership: every taggable resource carries it.
Tags.of(app).add('project', 'pop3-bridge');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
