/**
 * Reads the stack props from CDK context once, validates their types and
 * returns a frozen object (`cdk deploy -c rawRetentionDays=30 -c alarmEmail=…`
 * passes strings; cdk.json may hold numbers).
 */
import type { Node } from 'constructs';
import type { BridgeStackProps } from './bridge-stack.js';
import { InvalidStackPropError } from './bridge-stack.js';

export const CONTEXT_KEYS = [
  'stackName',
  'prefix',
  'rawRetentionDays',
  'noncurrentVersionRetentionDays',
  'accessLogRetentionDays',
  'logRetentionDays',
  'logLevel',
  'pollConcurrency',
  'deliverConcurrency',
  'pollTracing',
  'maxEventBodyBytes',
  'linkTtlSeconds',
  'dispatchReservedConcurrency',
  'deliverVpcId',
  'deliverSubnetIds',
  'deliverSecurityGroupIds',
  'webhookAllowList',
  'alarmTopicArn',
  'alarmEmail',
] as const;

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

export interface AppConfig {
  readonly stackName: string;
  readonly props: BridgeStackProps;
}

export function configFromContext(node: Node): AppConfig {
  const str = (key: string): string | undefined => {
    const v: unknown = node.tryGetContext(key);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new InvalidStackPropError(`context ${key}: expected a string`);
    return v;
  };
  const num = (key: string): number | undefined => {
    const v: unknown = node.tryGetContext(key);
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n)) throw new InvalidStackPropError(`context ${key}: expected an integer`);
    return n;
  };
  /** A list: comma-separated in a -c string, or an array of strings in cdk.json. */
  const strList = (key: string): string[] | undefined => {
    const v: unknown = node.tryGetContext(key);
    if (v === undefined || v === null || v === '') return undefined;
    if (Array.isArray(v) && v.every((item) => typeof item === 'string')) return v.map((item) => item.trim());
    if (typeof v !== 'string') throw new InvalidStackPropError(`context ${key}: expected a comma-separated string`);
    return v
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  };
  const logLevel = str('logLevel')?.toUpperCase();
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new InvalidStackPropError(`context logLevel: expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const pollTracing = str('pollTracing');
  if (pollTracing !== undefined && pollTracing !== 'Active' && pollTracing !== 'PassThrough') {
    throw new InvalidStackPropError('context pollTracing: expected Active or PassThrough');
  }
  const vpcId = str('deliverVpcId');
  const subnetIds = strList('deliverSubnetIds');
  const securityGroupIds = strList('deliverSecurityGroupIds');
  if (vpcId === undefined && (subnetIds !== undefined || securityGroupIds !== undefined)) {
    throw new InvalidStackPropError('context deliverSubnetIds and deliverSecurityGroupIds need deliverVpcId');
  }
  const deliverVpc =
    vpcId === undefined
      ? undefined
      : { vpcId, subnetIds: subnetIds ?? [], ...(securityGroupIds !== undefined && { securityGroupIds }) };
  const entries: Array<[string, unknown]> = [
    ['prefix', str('prefix')],
    ['rawRetentionDays', num('rawRetentionDays')],
    ['noncurrentVersionRetentionDays', num('noncurrentVersionRetentionDays')],
    ['accessLogRetentionDays', num('accessLogRetentionDays')],
    ['logRetention', num('logRetentionDays')],
    ['logLevel', logLevel],
    ['pollConcurrency', num('pollConcurrency')],
    ['deliverConcurrency', num('deliverConcurrency')],
    ['pollTracing', pollTracing],
    ['maxEventBodyBytes', num('maxEventBodyBytes')],
    ['linkTtlSeconds', num('linkTtlSeconds')],
    ['dispatchReservedConcurrency', num('dispatchReservedConcurrency')],
    ['deliverVpc', deliverVpc],
    ['webhookAllowList', strList('webhookAllowList')],
    ['alarmTopicArn', str('alarmTopicArn')],
    ['alarmEmail', str('alarmEmail')],
  ];
  const props = Object.freeze(Object.fromEntries(entries.filter(([, v]) => v !== undefined))) as BridgeStackProps;
  return Object.freeze({ stackName: str('stackName') ?? 'Pop3Bridge', props });
}
