/**
 * cdk-nag acknowledgements, one finding at a time, each with its reason.
 * cdk-nag names an IAM5 finding after the resource string as it flattens it
 * (`<Logical.Arn>/raw/*`, `arn:<AWS::Partition>:…`); `nagResource` flattens
 * the same way so the acknowledgement names exactly the grant it excuses.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (o['Fn::Sub'] !== undefined) return flatten(o['Fn::Sub']);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (o.Ref !== undefined) return `<${flatten(o.Ref)}>`;
  }
  return JSON.stringify(node);
}

/** The resource as cdk-nag's IAM5 finding names it. */
export function nagResource(scope: IConstruct, resource: string): string {
  return flatten(Stack.of(scope).resolve(resource));
}

/** Acknowledges `AwsSolutions-IAM5[Resource::<resource>]` on `scope` and its children. */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagResource(scope, resource)}]`, reason });
}
