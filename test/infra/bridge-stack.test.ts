/**
 * Infra tests: properties and IAM actions per function (least privilege),
 * never resource counts or logical IDs. Bundling is skipped through context;
 * scripts/cdk-synth.sh covers the real esbuild bundles.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { handlerEnv } from '../../functions/aws/runtime.js';
import { TEMP_PREFIX } from '../../functions/aws/s3-raw-store.js';
import { TABLE_SCHEMA } from '../../functions/aws/table-schema.js';
import { MAX_WEBHOOK_TIMEOUT_SECONDS } from '../../functions/config/webhook-limits.js';
import { BridgeStack, type BridgeStackProps, InvalidStackPropError } from '../../infra/bridge-stack.js';
import { CREATE_REQUIRE_BANNER } from '../../infra/constructs/bridge-function.js';
import { configFromContext } from '../../infra/context.js';

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Json };

// Without an outdir, every App makes its own cdk.out* folder in the system temp folder and leaves it there
// (16 per run of this file); here they all go in one folder that is removed at the end.
const outRoot = mkdtempSync(path.join(tmpdir(), 'pop3-bridge-cdk-test-'));
afterAll(() => rmSync(outRoot, { recursive: true, force: true }));
let apps = 0;

function newApp(context: Json = {}): App {
  apps += 1;
  return new App({
    outdir: path.join(outRoot, String(apps)),
    context: { ...cdkJson.context, ...context, 'aws:cdk:bundling-stacks': [] },
  });
}

function synth(props: BridgeStackProps = {}) {
  const app = newApp();
  const stack = new BridgeStack(app, 'Bridge', props);
  const template = Template.fromStack(stack);
  // Run on the synthesised tree rather than as a synth plugin, so a finding fails one test with its
  // name instead of failing the whole file at load (infra/app.ts registers it as a plugin).
  const nag = new AwsSolutionsChecks(app);
  return {
    template,
    json: template.toJSON() as { Resources: Record<string, { Type: string; Properties: Json }> },
    nag: nag.validateScope(app),
  };
}

const base = synth();
const full = synth({
  prefix: 'team/mail',
  rawRetentionDays: 30,
  alarmEmail: 'ops@example.com',
  pollConcurrency: 20,
  pollTracing: 'Active',
  logLevel: 'DEBUG',
  dispatchReservedConcurrency: 1,
  maxEventBodyBytes: 65_536,
  linkTtlSeconds: 3600,
});

const VPC_ID = 'vpc-0123456789abcdef0';
const SUBNETS = ['subnet-0123456789abcdef0', 'subnet-89abcdef'];
const inVpc = synth({
  deliverVpc: { vpcId: VPC_ID, subnetIds: SUBNETS },
  webhookAllowList: ['10.0.0.0/8', '*.svc.internal', 'hooks.corp.example'],
});
const inVpcWithGroups = synth({
  deliverVpc: {
    vpcId: VPC_ID,
    subnetIds: SUBNETS.slice(0, 1),
    securityGroupIds: ['sg-0123456789abcdef0', 'sg-12345678'],
  },
  webhookAllowList: ['10.1.2.3'],
});

type Synth = typeof base;
type FunctionName = 'dispatch' | 'poll' | 'deliver' | 'registry';
const resources = (s: Synth, type: string) =>
  Object.entries(s.json.Resources).filter(([, r]) => r.Type === type) as Array<
    [string, { Type: string; Properties: Json }]
  >;

/** The Lambda function whose description starts with `<name>:`. */
function fn(s: Synth, name: FunctionName) {
  const found = resources(s, 'AWS::Lambda::Function').filter(([, r]) =>
    String(r.Properties.Description).startsWith(`${name}:`),
  );
  expect(found).toHaveLength(1);
  const [id, r] = found[0]!;
  return { id, props: r.Properties };
}

/** Every statement granted to the function's role (role inline policies and attached AWS::IAM::Policy). */
function statements(s: Synth, name: FunctionName): Statement[] {
  const roleId = ((fn(s, name).props.Role as Json)['Fn::GetAtt'] as string[])[0]!;
  const role = s.json.Resources[roleId]!;
  expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
  const inline = ((role.Properties.Policies ?? []) as Array<{ PolicyDocument: { Statement: Statement[] } }>).flatMap(
    (p) => p.PolicyDocument.Statement,
  );
  const attached = resources(s, 'AWS::IAM::Policy')
    .filter(([, p]) =>
      (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  return [...inline, ...attached];
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
const actions = (st: Statement[]) => new Set(st.flatMap((x) => list(x.Action)));
/** Resources of the statements that allow `action`, flattened to strings (`<Logical.Arn>/raw/*`). */
function resourcesFor(st: Statement[], action: string): string[] {
  return st
    .filter((x) => x.Effect === 'Allow' && list(x.Action).includes(action))
    .flatMap((x) => list(x.Resource).map(flat));
}
function flat(v: unknown): string {
  if (typeof v === 'string') return v;
  const o = v as Json;
  if (o['Fn::Join']) return (o['Fn::Join'] as [string, unknown[]])[1].map(flat).join('');
  if (o['Fn::GetAtt']) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
  if (o.Ref) return `<${String(o.Ref)}>`;
  return JSON.stringify(v);
}
/** The object prefixes (`raw/`) of a bucket-object grant, whatever the bucket's logical ID. */
const objectPrefixes = (st: Statement[], action: string) =>
  resourcesFor(st, action)
    .map((r) => /^<[^>]+\.Arn>\/(.*)\*$/.exec(r)?.[1] ?? `not an object ARN: ${r}`)
    .sort();

const TABLE_READ = ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'];
const TABLE_WRITE = [
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
];
const LOGS_XRAY = ['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
/**
 * The EC2 actions of AWS's managed AWSLambdaVPCAccessExecutionRole (besides its logs actions): what Lambda
 * needs of the role of a function in a VPC. Written out here, not imported, so that the test holds the
 * stack to AWS's list rather than to itself.
 */
const LAMBDA_VPC_ACCESS = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:UnassignPrivateIpAddresses',
];
const SQS_CONSUME = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['default props', base],
    ['every prop set (alarm topic, raw expiry, nested prefix)', full],
    ['deliver in a VPC, with a security group of its own', inVpc],
    ['deliver in a VPC, with given security groups', inVpcWithGroups],
  ])('reports zero unacknowledged findings with %s', (_name, s) => {
    const findings = s.nag.violations.map(
      (v) => `${v.ruleName} (${v.severity}) at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(s.nag.success).toBe(true);
  });

  it('fails synth on a finding that nobody acknowledged (the check is live)', () => {
    const app = newApp();
    const stack = new BridgeStack(app, 'Bridge');
    // A wildcard grant the stack does not acknowledge.
    stack.functions.dispatch.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:Get*'], resources: ['*'] }));
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((v) => v.ruleName)).toContain('AwsSolutions-IAM5[Action::s3:Get*]');
  });
});

describe('every function (one construct fixes the defaults)', () => {
  it.each(['dispatch', 'poll', 'deliver', 'registry'] as const)(
    '%s: Node 24 on arm64, tracing, source maps, Powertools env, own log group',
    (name) => {
      const { props } = fn(base, name);
      expect(props.Runtime).toBe('nodejs24.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Handler).toBe('index.handler');
      // Poll records no trace of its own unless pollTracing is Active (cost: docs/cost-model.md), and dispatch,
      // whose trace header travels with the poll jobs, follows it.
      expect(props.TracingConfig).toEqual({ Mode: name === 'poll' || name === 'dispatch' ? 'PassThrough' : 'Active' });
      const env = (props.Environment as { Variables: Json }).Variables;
      expect(env).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'pop3-bridge',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_NAMESPACE: 'Pop3Bridge',
      });
      const logGroupId = (((props.LoggingConfig as Json).LogGroup as Json).Ref as string) ?? '';
      expect(base.json.Resources[logGroupId]?.Type).toBe('AWS::Logs::LogGroup');
      expect(base.json.Resources[logGroupId]?.Properties.RetentionInDays).toBe(30);
      // Logs go only to its own group.
      const st = statements(base, name);
      expect(resourcesFor(st, 'logs:PutLogEvents')).toEqual([`<${logGroupId}.Arn>`]);
    },
  );

  it.each(['dispatch', 'poll', 'deliver'] as const)(
    '%s: JSON log format, the application log level equal to Powertools level; Lambda system lines dropped for poll only',
    (name) => {
      for (const [s, level] of [
        [base, 'INFO'],
        [full, 'DEBUG'],
      ] as const) {
        const { props } = fn(s, name);
        expect(props.LoggingConfig).toMatchObject({
          LogFormat: 'JSON',
          // Powertools follows the stricter of the two: they must agree or DEBUG lines vanish.
          ApplicationLogLevel: level,
          SystemLogLevel: name === 'poll' ? 'WARN' : 'INFO',
        });
        expect((props.Environment as { Variables: Json }).Variables.POWERTOOLS_LOG_LEVEL).toBe(level);
      }
    },
  );

  it('each function gets exactly the variables docs/aws.md lists for it, and they pass handlerEnv', () => {
    const doc = readFileSync(new URL('../../docs/aws.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Environment the handlers get'));
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|/gm)];
    expect(rows.length).toBeGreaterThan(10);
    const names = ['dispatch', 'poll', 'deliver', 'registry'] as const;
    for (const [i, name] of names.entries()) {
      const documented = rows.filter((r) => r[i + 2]!.includes('✓')).map((r) => r[1]!);
      // inVpc sets webhookAllowList, so deliver's "(when set)" variable is there too.
      const vars = (fn(inVpc, name).props.Environment as { Variables: Json }).Variables;
      expect(Object.keys(vars).sort(), name).toEqual(documented.sort());
      // Tokens (table name, queue URLs) stand in as strings: what matters is that no required name is missing.
      const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : `<${k}>`]));
      expect(() => handlerEnv({ AWS_REGION: 'eu-west-1', ...env }), name).not.toThrow();
    }
  });

  it('pollTracing: Active turns X-Ray sampling on for dispatch and poll', () => {
    expect(fn(full, 'poll').props.TracingConfig).toEqual({ Mode: 'Active' });
    expect(fn(full, 'dispatch').props.TracingConfig).toEqual({ Mode: 'Active' });
  });

  it('gives deliver, and only deliver, the event body cap: 256 KiB by default, maxEventBodyBytes when set', () => {
    const cap = (s: Synth, name: Parameters<typeof fn>[1]) =>
      (fn(s, name).props.Environment as { Variables: Json }).Variables.MAX_EVENT_BODY_BYTES;
    expect(cap(base, 'deliver')).toBe('262144');
    expect(cap(full, 'deliver')).toBe('65536');
    for (const name of ['dispatch', 'poll', 'registry'] as const) expect(cap(full, name)).toBeUndefined();
  });

  it('gives deliver the link lifetime: 24 h by default, linkTtlSeconds when set', () => {
    const ttl = (s: Synth) => (fn(s, 'deliver').props.Environment as { Variables: Json }).Variables.LINK_TTL_SECONDS;
    expect(ttl(base)).toBe('86400');
    expect(ttl(full)).toBe('3600');
  });

  it('passes the log level prop through and bounds dispatch with reserved concurrency when asked', () => {
    expect((fn(full, 'poll').props.Environment as { Variables: Json }).Variables.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
    expect(fn(full, 'dispatch').props.ReservedConcurrentExecutions).toBe(1);
    expect(fn(base, 'dispatch').props.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('the ESM bundle banner gives CommonJS dependencies a require()', () => {
    expect(CREATE_REQUIRE_BANNER).toMatch(/createRequire.*from 'node:module'.*const require = .*\(import\.meta\.url\)/);
  });

  it.each(['dispatch', 'poll', 'deliver'] as const)(
    '%s: no wildcard action, no Scan, Resource * only for X-Ray',
    (name) => {
      const st = statements(base, name);
      const all = [...actions(st)];
      expect(all.filter((a) => a.includes('*'))).toEqual([]);
      expect(all).not.toContain('dynamodb:Scan');
      const starActions = st.filter((x) => list(x.Resource).includes('*')).flatMap((x) => list(x.Action));
      expect(starActions.sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    },
  );

  it('in a VPC, deliver adds only the network-interface actions to its Resource * statements', () => {
    const starActions = (name: FunctionName) =>
      statements(inVpc, name)
        .filter((x) => list(x.Resource).includes('*'))
        .flatMap((x) => list(x.Action))
        .sort();
    expect(starActions('deliver')).toEqual(
      [...LAMBDA_VPC_ACCESS, 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'].sort(),
    );
    for (const name of ['dispatch', 'poll', 'registry'] as const) {
      expect(starActions(name)).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    }
  });
});

describe('least privilege per function', () => {
  it('dispatch: reads the registry in the table, sends poll jobs; no SSM, no KMS, cannot touch S3 or write state', () => {
    const st = statements(base, 'dispatch');
    expect([...actions(st)].sort()).toEqual([...LOGS_XRAY, ...TABLE_READ, 'sqs:SendMessage'].sort());
    expect([...actions(st)].filter((a) => a.startsWith('s3:') || a.startsWith('ssm:') || a.startsWith('kms:'))).toEqual(
      [],
    );
    // It knows the bucket's name (the state store is built with it) and the parameter path (named in its logs).
    const env = (fn(base, 'dispatch').props.Environment as { Variables: Json }).Variables;
    expect(env.BUCKET_NAME).toBeDefined();
    expect(env.MAILBOX_PARAMETER_PATH).toBe('/pop3-bridge/mailboxes');
    // Poll jobs, and the wake-up of deliver when retries are due (the schedule lives in the state store).
    const queues = resourcesFor(st, 'sqs:SendMessage').sort();
    expect(queues).toHaveLength(2);
    expect(queues[0]).toMatch(/^<DeliveryQueue[^>]*\.Arn>$/);
    expect(queues[1]).toMatch(/^<Poll[^>]*\.Arn>$/);
    // The only trigger is the schedule: no queue is consumed.
    expect([...actions(st)]).not.toContain('sqs:ReceiveMessage');
  });

  it('registry: lists the mailbox path undecrypted, gets one parameter, writes the table only (no index, no S3, no queue)', () => {
    const st = statements(base, 'registry');
    expect([...actions(st)].sort()).toEqual(
      [
        ...LOGS_XRAY,
        'ssm:GetParametersByPath',
        'ssm:GetParameter',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        ...TABLE_READ,
        ...TABLE_WRITE,
      ].sort(),
    );
    expect(resourcesFor(st, 'ssm:GetParametersByPath')).toEqual([
      'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/pop3-bridge/mailboxes',
    ]);
    expect(resourcesFor(st, 'ssm:GetParameter')).toEqual([
      'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/pop3-bridge/mailboxes/*',
    ]);
    const tableResources = resourcesFor(st, 'dynamodb:Query');
    expect(tableResources).toEqual([expect.stringMatching(/^<State[^>]*\.Arn>$/)]);
    expect(resourcesFor(st, 'dynamodb:PutItem')).toEqual(tableResources);
  });

  it('poll: no SSM (sealed configs), raw/, tmp/ and known-uid objects, table read/write, sends delivery jobs', () => {
    const st = statements(base, 'poll');
    expect([...actions(st)].sort()).toEqual(
      [
        ...LOGS_XRAY,
        'kms:Decrypt',
        's3:GetObject',
        's3:PutObject',
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:ListBucket',
        ...TABLE_READ,
        ...TABLE_WRITE,
        'sqs:SendMessage',
        ...SQS_CONSUME,
      ].sort(),
    );
    expect(objectPrefixes(st, 's3:GetObject')).toEqual(['raw/', 'state/known-uids/', 'tmp/']);
    expect(objectPrefixes(st, 's3:PutObject')).toEqual(['raw/', 'state/known-uids/', 'tmp/']);
    expect(objectPrefixes(st, 's3:DeleteObject')).toEqual(['tmp/']);
    expect(resourcesFor(st, 'sqs:SendMessage')).toEqual([expect.stringMatching(/^<Delivery[^>]*\.Arn>$/)]);
    expect(resourcesFor(st, 'sqs:ReceiveMessage')).toEqual([expect.stringMatching(/^<Poll[^>]*\.Arn>$/)]);
  });

  it('deliver: no SSM (sealed configs), reads raw/att, writes att via tmp, table read/write, its own queue', () => {
    const st = statements(base, 'deliver');
    const got = [...actions(st)];
    expect(got.filter((a) => a.startsWith('ssm:') || a.startsWith('kms:'))).toEqual(['kms:Decrypt']);
    expect(objectPrefixes(st, 's3:GetObject')).toEqual(['att/', 'raw/', 'tmp/']);
    expect(objectPrefixes(st, 's3:PutObject')).toEqual(['att/', 'tmp/']);
    expect(objectPrefixes(st, 's3:DeleteObject')).toEqual(['tmp/']);
    expect(got).toEqual(expect.arrayContaining([...TABLE_READ, ...TABLE_WRITE]));
    const ownQueue = resourcesFor(st, 'sqs:ReceiveMessage');
    expect(ownQueue).toEqual([expect.stringMatching(/^<Delivery[^>]*\.Arn>$/)]);
    // It only consumes its queue: retries are due times in the table, not messages it sends itself.
    expect(resourcesFor(st, 'sqs:SendMessage')).toEqual([]);
  });

  it.each([
    ['registry', 'kms:GenerateDataKey'],
    ['poll', 'kms:Decrypt'],
    ['deliver', 'kms:Decrypt'],
  ] as const)('%s: %s only with the mailbox key, only for data keys of mailbox configs', (name, action) => {
    const st = statements(base, name).filter((x) => list(x.Action).includes(action));
    expect(st).toHaveLength(1);
    const [grant] = st;
    expect(list(grant!.Action)).toEqual([action]);
    const keyId = /^<(.+)\.Arn>$/.exec(flat(grant!.Resource))?.[1] ?? '';
    expect(base.json.Resources[keyId]?.Type).toBe('AWS::KMS::Key');
    expect(grant!.Condition).toEqual({
      StringEquals: { 'kms:EncryptionContext:pop3-bridge:purpose': 'mailbox-config' },
    });
    // The functions find the key by its ARN.
    const env = (fn(base, name).props.Environment as { Variables: Json }).Variables;
    expect(flat(env.CONFIG_KEY_ARN)).toBe(`<${keyId}.Arn>`);
  });

  it.each(['registry'] as const)(
    '%s: decrypts parameters only with the mailbox key, via SSM, for that path',
    (name) => {
      const st = statements(base, name).filter(
        (x) => list(x.Action).includes('kms:Decrypt') && JSON.stringify(x.Condition).includes('ViaService'),
      );
      expect(st).toHaveLength(1);
      const [decrypt] = st;
      const keyId = /^<(.+)\.Arn>$/.exec(flat(decrypt!.Resource))?.[1] ?? '';
      expect(base.json.Resources[keyId]?.Type).toBe('AWS::KMS::Key');
      expect(base.json.Resources[keyId]?.Properties.EnableKeyRotation).toBe(true);
      const condition = decrypt!.Condition as { StringEquals: Json; StringLike: Json };
      expect(flat(condition.StringEquals['kms:ViaService'])).toBe('ssm.<AWS::Region>.<AWS::URLSuffix>');
      expect(flat(condition.StringLike['kms:EncryptionContext:PARAMETER_ARN'])).toBe(
        'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/pop3-bridge/mailboxes/*',
      );
    },
  );

  it('a different prefix moves every SSM grant and the key alias', () => {
    const st = statements(full, 'registry');
    expect(resourcesFor(st, 'ssm:GetParametersByPath')).toEqual([
      'arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/team/mail/mailboxes',
    ]);
    full.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/team/mail-mailboxes' });
    base.template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/pop3-bridge-mailboxes' });
  });

  it('table grants name the table and its GSIs exactly, no index wildcard', () => {
    for (const name of ['dispatch', 'poll', 'deliver'] as const) {
      const res = resourcesFor(statements(base, name), 'dynamodb:Query');
      const table = res[0]!;
      expect(table).toMatch(/^<State[^>]*\.Arn>$/);
      expect(res.slice(1)).toEqual(TABLE_SCHEMA.indexes.map((i) => `${table}/index/${i.name}`));
    }
  });
});

describe('deliver in a VPC (deliverVpc, webhookAllowList)', () => {
  const vpcConfig = (s: Synth, name: FunctionName) => fn(s, name).props.VpcConfig as Json | undefined;
  const env = (s: Synth, name: FunctionName) => (fn(s, name).props.Environment as { Variables: Json }).Variables;

  it('by default no function is in a VPC, none may manage network interfaces, none has an allow-list', () => {
    for (const name of ['dispatch', 'poll', 'deliver', 'registry'] as const) {
      expect(vpcConfig(base, name)).toBeUndefined();
      expect([...actions(statements(base, name))].filter((a) => a.startsWith('ec2:'))).toEqual([]);
      expect(env(base, name).WEBHOOK_ALLOW_LIST).toBeUndefined();
    }
    expect(resources(base, 'AWS::EC2::SecurityGroup')).toEqual([]);
  });

  it('puts deliver, and only deliver, in the given subnets, with a group of its own: no inbound rule, any outbound', () => {
    expect((vpcConfig(inVpc, 'deliver')?.SubnetIds as string[]) ?? []).toEqual(SUBNETS);
    const groups = (vpcConfig(inVpc, 'deliver')?.SecurityGroupIds as Json[]) ?? [];
    expect(groups).toHaveLength(1);
    const groupId = ((groups[0]!['Fn::GetAtt'] as string[]) ?? [])[0] ?? '';
    const group = inVpc.json.Resources[groupId]!;
    expect(group.Type).toBe('AWS::EC2::SecurityGroup');
    expect(group.Properties.VpcId).toBe(VPC_ID);
    expect(group.Properties.SecurityGroupIngress).toBeUndefined();
    expect(group.Properties.SecurityGroupEgress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: '-1' }),
    ]);
    for (const name of ['dispatch', 'poll', 'registry'] as const) expect(vpcConfig(inVpc, name)).toBeUndefined();
  });

  it('uses the given security groups instead, and creates none', () => {
    expect(vpcConfig(inVpcWithGroups, 'deliver')).toEqual({
      SubnetIds: SUBNETS.slice(0, 1),
      SecurityGroupIds: ['sg-0123456789abcdef0', 'sg-12345678'],
    });
    expect(resources(inVpcWithGroups, 'AWS::EC2::SecurityGroup')).toEqual([]);
  });

  it("grants deliver's role the network-interface actions Lambda needs in a VPC (no managed policy), before the function exists", () => {
    const st = statements(inVpc, 'deliver');
    const ec2 = st.filter((x) => list(x.Action).some((a) => a.startsWith('ec2:')));
    expect(ec2).toHaveLength(1);
    expect(new Set(list(ec2[0]!.Action))).toEqual(new Set(LAMBDA_VPC_ACCESS));
    expect(ec2[0]!.Resource).toBe('*');
    for (const name of ['dispatch', 'poll', 'registry'] as const) {
      expect([...actions(statements(inVpc, name))].filter((a) => a.startsWith('ec2:'))).toEqual([]);
    }
    // Lambda checks the role for these when it creates the function: the policy must come first.
    const deliver = Object.entries(inVpc.json.Resources).find(
      ([, r]) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Description).startsWith('deliver:'),
    )!;
    const policies = resources(inVpc, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes('ec2:CreateNetworkInterface'))
      .map(([id]) => id);
    expect(policies).toHaveLength(1);
    expect((deliver[1] as { DependsOn?: string[] }).DependsOn).toContain(policies[0]);
  });

  it('gives deliver, and only deliver, the allow-list as WEBHOOK_ALLOW_LIST', () => {
    expect(env(inVpc, 'deliver').WEBHOOK_ALLOW_LIST).toBe('10.0.0.0/8,*.svc.internal,hooks.corp.example');
    expect(env(inVpcWithGroups, 'deliver').WEBHOOK_ALLOW_LIST).toBe('10.1.2.3');
    for (const name of ['dispatch', 'poll', 'registry'] as const)
      expect(env(inVpc, name).WEBHOOK_ALLOW_LIST).toBeUndefined();
  });

  it('warns when an allow-list is given without a VPC (deliver could not reach a private address)', () => {
    const warnings = (props: BridgeStackProps) =>
      Annotations.fromStack(new BridgeStack(newApp(), 'Bridge', props))
        .findWarning('*', Match.stringLikeRegexp('.*'))
        .map((w) => String(w.entry.data));
    expect(warnings({ webhookAllowList: ['10.0.0.0/8'] })).toEqual([
      expect.stringContaining('webhookAllowList is set but deliverVpc is not'),
    ]);
    expect(warnings({ webhookAllowList: ['10.0.0.0/8'], deliverVpc: { vpcId: VPC_ID, subnetIds: SUBNETS } })).toEqual(
      [],
    );
  });
});

describe('data stores', () => {
  it('every KMS key the stack creates rotates', () => {
    for (const s of [base, full]) {
      const keys = resources(s, 'AWS::KMS::Key');
      expect(keys.length).toBeGreaterThan(0);
      for (const [, k] of keys) expect(k.Properties.EnableKeyRotation).toBe(true);
    }
  });

  it('the store bucket: private, SSE, versioned, access-logged, lifecycle; every bucket denies non-TLS', () => {
    base.template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'store/' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'tmp/', ExpirationInDays: 1 }),
        ]),
      },
    });
    const policies = resources(base, 'AWS::S3::BucketPolicy');
    expect(policies.length).toBe(resources(base, 'AWS::S3::Bucket').length);
    for (const [, p] of policies) {
      const st = (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      expect(st).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('raw/ objects expire only when rawRetentionDays is set', () => {
    const rawRules = (s: Synth) =>
      resources(s, 'AWS::S3::Bucket').flatMap(([, b]) =>
        (((b.Properties.LifecycleConfiguration as Json | undefined)?.Rules ?? []) as Json[]).filter(
          (r) => r.Prefix === 'raw/',
        ),
      );
    expect(rawRules(base)).toEqual([]);
    expect(rawRules(full)).toEqual([expect.objectContaining({ ExpirationInDays: 30, Status: 'Enabled' })]);
  });

  it('refuses a raw/ expiry that could come before the last retry of a delivery and its links have run out', () => {
    // Every attempt rebuilds the event from the raw object (event-source.ts), and its links are presigned for
    // linkTtlSeconds. The engine waits at most 24 h between attempts (a Retry-After is capped there; the schedule's
    // longest wait is 10 h + 20 %), 7 times: the 8th attempt can come 7 days after the first, and its links last
    // the link TTL more. A raw object expired before that fails the retry (mail POP3 has DELEted is then lost)
    // or breaks a link the receiver was given. S3 expires an object no sooner than N days after it was written.
    const day = 86_400;
    const lastAttemptAfter = 7 * day;
    const slack = day; // the minutes each retry waits to be claimed, rounds that hand jobs back
    for (const [linkTtlSeconds, shortest] of [
      [undefined, 9],
      [3600, 9],
      [604_800, 15],
    ] as const) {
      const ttl = linkTtlSeconds ?? 86_400;
      expect(shortest * day).toBeGreaterThanOrEqual(lastAttemptAfter + ttl + slack);
      const props = { ...(linkTtlSeconds !== undefined && { linkTtlSeconds }) };
      expect(() => new BridgeStack(newApp(), 'Bad', { ...props, rawRetentionDays: shortest - 1 })).toThrow(
        /rawRetentionDays: at least/,
      );
      const s = synth({ ...props, rawRetentionDays: shortest });
      s.template.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: {
          Rules: Match.arrayWith([Match.objectLike({ Prefix: 'raw/', ExpirationInDays: shortest })]),
        },
      });
    }
  });

  it('the state table: on-demand, PITR, TTL expiresAt, the adapter GSIs', () => {
    base.template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: TABLE_SCHEMA.indexes.map((i) =>
        Match.objectLike({
          IndexName: i.name,
          KeySchema: [
            { AttributeName: i.partitionKey, KeyType: 'HASH' },
            { AttributeName: i.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
      ),
    });
  });

  it('the staging prefix granted and expired is the one S3RawStore uploads to', () => {
    expect(TEMP_PREFIX).toBe('tmp/');
  });
});

describe('queues', () => {
  it('every work queue has a DLQ; every queue is encrypted; every queue policy denies non-TLS', () => {
    const queues = resources(base, 'AWS::SQS::Queue');
    const dlqArns = new Set(
      queues.flatMap(([, q]) => {
        const rp = q.Properties.RedrivePolicy as { deadLetterTargetArn: unknown } | undefined;
        return rp ? [flat(rp.deadLetterTargetArn)] : [];
      }),
    );
    for (const [id, q] of queues) {
      expect(q.Properties.SqsManagedSseEnabled).toBe(true);
      const isDlq = dlqArns.has(`<${id}.Arn>`);
      if (!isDlq) expect(q.Properties.RedrivePolicy, id).toBeDefined();
    }
    expect(dlqArns.size).toBeGreaterThanOrEqual(2);
    const policies = resources(base, 'AWS::SQS::QueuePolicy');
    const covered = new Set(policies.flatMap(([, p]) => (p.Properties.Queues as unknown[]).map(flat)));
    for (const [id] of queues) expect(covered.has(`<${id}>`), id).toBe(true);
    for (const [, p] of policies) {
      expect((p.Properties.PolicyDocument as { Statement: Statement[] }).Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('poll: batches of 10 with a 2 s window, ReportBatchItemFailures, bounded concurrency; deliver: ReportBatchItemFailures, bounded concurrency', () => {
    const mapping = (s: Synth, name: 'poll' | 'deliver') => {
      const fnId = fn(s, name).id;
      const found = resources(s, 'AWS::Lambda::EventSourceMapping').filter(
        ([, m]) => flat(m.Properties.FunctionName) === `<${fnId}>`,
      );
      expect(found).toHaveLength(1);
      return found[0]![1].Properties;
    };
    expect(mapping(base, 'poll')).toMatchObject({
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 2,
      // Each record is one mailbox: a failing one is retried alone, never with the other nine.
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    expect(mapping(full, 'poll')).toMatchObject({ ScalingConfig: { MaximumConcurrency: 20 } });
    expect(mapping(base, 'deliver')).toMatchObject({
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('deliver runs long enough for a request to the slowest endpoint a config may set, and then some', () => {
    // The engine starts no request that could outlast the invocation: with less time than the longest webhook
    // timeout (plus the handler's 30 s safety), a job for such an endpoint would be handed back every time.
    expect(fn(base, 'deliver').props.Timeout as number).toBeGreaterThanOrEqual(2 * MAX_WEBHOOK_TIMEOUT_SECONDS + 30);
  });

  it('visibility timeouts outlast the consuming function', () => {
    for (const name of ['poll', 'deliver'] as const) {
      const { id, props } = fn(base, name);
      const [, m] = resources(base, 'AWS::Lambda::EventSourceMapping').find(
        ([, x]) => flat(x.Properties.FunctionName) === `<${id}>`,
      )!;
      const queueId = /^<(.+)\.Arn>$/.exec(flat(m.Properties.EventSourceArn))![1]!;
      // A batch may wait for its window before the function starts: the job stays invisible through both.
      const window = (m.Properties.MaximumBatchingWindowInSeconds as number | undefined) ?? 0;
      expect(base.json.Resources[queueId]!.Properties.VisibilityTimeout as number).toBeGreaterThan(
        (props.Timeout as number) + window,
      );
    }
  });
});

describe('schedule, alarms, dashboard', () => {
  it('an EventBridge rule runs dispatch at rate(1 minute)', () => {
    const dispatchId = fn(base, 'dispatch').id;
    base.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [dispatchId, 'Arn'] } })],
    });
  });

  it('the registry runs on SSM change events under the mailbox path, hourly with a reconcile, and after deploy', () => {
    const registryArn = { 'Fn::GetAtt': [fn(base, 'registry').id, 'Arn'] };
    base.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['Parameter Store Change'],
        detail: { name: [{ prefix: '/pop3-bridge/mailboxes/' }] },
      },
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: registryArn })],
    });
    full.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ detail: { name: [{ prefix: '/team/mail/mailboxes/' }] } }),
    });
    base.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [Match.objectLike({ Arn: registryArn, Input: JSON.stringify({ kind: 'reconcile' }) })],
    });
    // The deploy trigger invokes a version of the registry function, asynchronously.
    const [trigger] = resources(base, 'Custom::Trigger');
    expect(trigger).toBeDefined();
    expect(trigger![1].Properties.InvocationType).toBe('Event');
    const versionId = String((trigger![1].Properties.HandlerArn as Json).Ref);
    expect(base.json.Resources[versionId]?.Type).toBe('AWS::Lambda::Version');
    expect(base.json.Resources[versionId]?.Properties.FunctionName).toEqual({ Ref: fn(base, 'registry').id });
  });

  it('alarms on each DLQ depth, each function error, failing mailboxes and a poll backlog', () => {
    const alarms = resources(base, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const dlqIds = resources(base, 'AWS::SQS::Queue')
      .filter(([, q]) => q.Properties.RedrivePolicy)
      .map(([, q]) => /^<(.+)\.Arn>$/.exec(flat((q.Properties.RedrivePolicy as Json).deadLetterTargetArn))![1]);
    for (const dlq of dlqIds) {
      expect(alarms).toContainEqual(
        expect.objectContaining({
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
        }),
      );
    }
    for (const name of ['dispatch', 'poll', 'deliver', 'registry'] as const) {
      expect(alarms).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn(base, name).id } }],
        }),
      );
    }
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'Pop3Bridge',
        MetricName: 'FailingMailboxes',
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
      }),
    );
    // Poll backlog: the poll queue's oldest job older than three visibility timeouts (a retried job never is).
    const pollQueueId = resources(base, 'AWS::SQS::Queue').find(
      ([, q]) => q.Properties.RedrivePolicy && q.Properties.MessageRetentionPeriod === 86_400,
    )![0];
    const visibility = base.json.Resources[pollQueueId]!.Properties.VisibilityTimeout as number;
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [pollQueueId, 'QueueName'] } }],
        Threshold: 3 * visibility,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    );
    // No topic configured: alarms notify nobody, and the stack creates no topic.
    for (const a of alarms) expect(a.AlarmActions).toBeUndefined();
    expect(resources(base, 'AWS::SNS::Topic')).toEqual([]);
  });

  it('alarms when dispatch stops running: nothing else would notice that no mailbox is polled any more', () => {
    // Dispatch is the one scheduled entry: if its rule is disabled, its invoke permission lost, or it is throttled
    // (no reserved concurrency by default; poll and deliver may take 10 at once), nothing is polled, nothing fails,
    // and no metric the other alarms watch moves. Lambda publishes no Invocations data for a minute without one,
    // so the alarm must treat missing data as breaching.
    const alarms = resources(base, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const stopped = alarms.filter(
      (a) =>
        a.Namespace === 'AWS/Lambda' &&
        a.MetricName === 'Invocations' &&
        JSON.stringify(a.Dimensions) ===
          JSON.stringify([{ Name: 'FunctionName', Value: { Ref: fn(base, 'dispatch').id } }]),
    );
    expect(stopped).toEqual([
      expect.objectContaining({
        Statistic: 'Sum',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
      }),
    ]);
    // Fires within a quarter of an hour of the last run, and not on one late run of a once-a-minute schedule.
    const window = (stopped[0]!.Period as number) * (stopped[0]!.EvaluationPeriods as number);
    expect(window).toBeGreaterThanOrEqual(5 * 60);
    expect(window).toBeLessThanOrEqual(15 * 60);
  });

  it('with alarmEmail: an encrypted, TLS-only topic with the e-mail subscribed receives every alarm', () => {
    const topics = resources(full, 'AWS::SNS::Topic');
    expect(topics).toHaveLength(1);
    const [topicId, topic] = topics[0]!;
    expect(topic.Properties.KmsMasterKeyId).toBeDefined();
    full.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topicId },
    });
    full.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    for (const [, a] of resources(full, 'AWS::CloudWatch::Alarm')) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    }
  });

  it('with alarmTopicArn: alarms go to that topic and the stack creates none', () => {
    const arn = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';
    const s = synth({ alarmTopicArn: arn });
    expect(resources(s, 'AWS::SNS::Topic')).toEqual([]);
    for (const [, a] of resources(s, 'AWS::CloudWatch::Alarm')) expect(a.Properties.AlarmActions).toEqual([arn]);
    expect(s.nag.violations).toEqual([]);
  });

  it('the dashboard graphs the per-mailbox metrics the handlers emit', () => {
    const dashboards = resources(base, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const [, dash] = dashboards[0]!;
    const body = JSON.stringify(dash.Properties.DashboardBody);
    for (const metric of ['MessagesFetched', 'BytesFetched', 'DeliveryLatencyMs', 'DeliveryFailures']) {
      expect(body).toContain(`SEARCH('{Pop3Bridge,Mailbox,service} MetricName=\\\\\\"${metric}\\\\\\"'`);
    }
    expect(body).toContain('FailingMailboxes');
  });
});

describe('props', () => {
  it.each([
    [{ prefix: '/leading' }],
    [{ prefix: 'aws-reserved' }],
    [{ prefix: 'has.dot' }],
    [{ pollConcurrency: 1 }],
    [{ rawRetentionDays: 0 }],
    [{ alarmEmail: 'not-an-address' }],
    [{ alarmTopicArn: 'arn:aws:sqs:eu-west-1:123456789012:q' }],
    [{ pollTracing: 'Sometimes' as 'Active' }],
    [{ maxEventBodyBytes: 32_767 }],
    [{ maxEventBodyBytes: 1_048_577 }],
    [{ linkTtlSeconds: 59 }],
    [{ linkTtlSeconds: 604_801 }],
    [{ deliverVpc: { vpcId: 'vpc-123', subnetIds: ['subnet-89abcdef'] } }],
    [{ deliverVpc: { vpcId: 'vpc-0123456789abcdef0', subnetIds: [] } }],
    [{ deliverVpc: { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['sg-89abcdef'] } }],
    [{ deliverVpc: { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-89abcdef', 'subnet-89abcdef'] } }],
    [{ deliverVpc: { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-89abcdef'], securityGroupIds: ['sg-1'] } }],
    [
      {
        deliverVpc: {
          vpcId: 'vpc-0123456789abcdef0',
          subnetIds: ['subnet-89abcdef'],
          securityGroupIds: ['sg-10000000', 'sg-20000000', 'sg-30000000', 'sg-40000000', 'sg-50000000', 'sg-60000000'],
        },
      },
    ],
    [{ webhookAllowList: ['10.0.0.0/33'] }],
    [{ webhookAllowList: ['https://hooks.example'] }],
    [{ webhookAllowList: ['hooks.example:8443'] }],
    [{ webhookAllowList: Array.from({ length: 200 }, (_, i) => `receiver-${i}.corp.example`) }],
  ] as BridgeStackProps[][])('rejects %j', (props) => {
    expect(() => new BridgeStack(newApp(), 'Bad', props)).toThrow(InvalidStackPropError);
  });

  it('reads props from CDK context (-c strings) once, typed and frozen', () => {
    const app = newApp({
      stackName: 'MailBridge',
      prefix: 'team/mail',
      rawRetentionDays: '30',
      logRetentionDays: 14,
      logLevel: 'debug',
      pollConcurrency: '10',
      pollTracing: 'Active',
      maxEventBodyBytes: '65536',
      linkTtlSeconds: '3600',
      alarmEmail: 'ops@example.com',
    });
    const config = configFromContext(app.node);
    expect(config).toEqual({
      stackName: 'MailBridge',
      props: {
        prefix: 'team/mail',
        rawRetentionDays: 30,
        logRetention: 14,
        logLevel: 'DEBUG',
        pollConcurrency: 10,
        pollTracing: 'Active',
        maxEventBodyBytes: 65_536,
        linkTtlSeconds: 3600,
        alarmEmail: 'ops@example.com',
      },
    });
    expect(() => configFromContext(newApp({ pollTracing: 'sometimes' }).node)).toThrow(InvalidStackPropError);
    expect(Object.isFrozen(config.props)).toBe(true);
    expect(() => configFromContext(newApp({ rawRetentionDays: 'thirty' }).node)).toThrow(InvalidStackPropError);
    expect(() => configFromContext(newApp({ logLevel: 'loud' }).node)).toThrow(InvalidStackPropError);
  });

  it('reads deliverVpc and webhookAllowList from context: comma-separated -c strings or cdk.json arrays', () => {
    expect(
      configFromContext(
        newApp({
          deliverVpcId: 'vpc-0123456789abcdef0',
          deliverSubnetIds: 'subnet-0123456789abcdef0, subnet-89abcdef',
          webhookAllowList: '10.0.0.0/8,*.svc.internal',
        }).node,
      ).props,
    ).toEqual({
      deliverVpc: { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-0123456789abcdef0', 'subnet-89abcdef'] },
      webhookAllowList: ['10.0.0.0/8', '*.svc.internal'],
    });
    expect(
      configFromContext(
        newApp({
          deliverVpcId: 'vpc-0123456789abcdef0',
          deliverSubnetIds: ['subnet-89abcdef'],
          deliverSecurityGroupIds: ['sg-12345678'],
        }).node,
      ).props,
    ).toEqual({
      deliverVpc: { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-89abcdef'], securityGroupIds: ['sg-12345678'] },
    });
    // Subnets without the VPC they belong to, and a list that is neither a string nor strings.
    expect(() => configFromContext(newApp({ deliverSubnetIds: 'subnet-89abcdef' }).node)).toThrow(
      InvalidStackPropError,
    );
    expect(() => configFromContext(newApp({ webhookAllowList: 10 }).node)).toThrow(InvalidStackPropError);
  });
});
