/**
 * Compile-time proof that `docs/event.d.ts` (generated for receivers) and the bridge's own types (z.output of
 * the zod schema in functions/events/schema.ts) describe the same event. tsconfig.json includes `test/`, so
 * `npm run typecheck` (run before the tests and by CI) fails when they drift: a field added, removed,
 * renamed, made optional or nullable, or given another type, on either side, at any depth.
 *
 * Two checks, because each alone misses something:
 * - mutual assignability catches a changed type or a field required on one side only, but not a field that
 *   is optional on one side and absent on the other (an object type may omit an optional property, and may
 *   carry extra ones);
 * - `SameKeys` catches exactly that: the same property names on both sides, recursively.
 * The usual identity trick (`<T>() => T extends A ? 1 : 2`), applied to both JsonShapes, would do both at
 * once, but with TypeScript 5.9 it called `Truncated` equal to the zod type after one of its fields was
 * changed to `number`, so it is not used here.
 *
 * One normalisation: zod types an optional field as `content?: string | undefined`, the generated file as
 * `content?: string`; with exactOptionalPropertyTypes a bridge value is then not assignable to the generated
 * type, and JSON cannot carry `undefined` anyway, so `JsonShape` drops it from the bridge's optional fields.
 */
import type * as Generated from '../../docs/event.js';
import type * as Bridge from '../../functions/events/schema.js';

type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];

/** T as JSON carries it: optional fields without `| undefined`, recursively. */
type JsonShape<T> = T extends readonly (infer E)[]
  ? JsonShape<E>[]
  : T extends object
    ? { [K in Exclude<keyof T, OptionalKeys<T>>]: JsonShape<T[K]> } & {
        [K in OptionalKeys<T>]?: JsonShape<Exclude<T[K], undefined>>;
      }
    : T;

type MutuallyAssignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** `true` when A and B have the same property names at every depth (arrays compared by their elements). */
type SameKeys<A, B> = [A] extends [readonly (infer E)[]]
  ? [B] extends [readonly (infer F)[]]
    ? SameKeys<E, F>
    : false
  : [A] extends [object]
    ? [B] extends [object]
      ? [keyof A] extends [keyof B]
        ? [keyof B] extends [keyof A]
          ? AllTrue<{ [K in keyof A & keyof B]-?: SameKeys<NonNullable<A[K]>, NonNullable<B[K]>> }>
          : false
        : false
      : false
    : [B] extends [object]
      ? false
      : true;
type AllTrue<R> = [R[keyof R]] extends [true] ? true : false;

/** Compiles only when its argument is `true`. */
type Assert<T extends true> = T;

export type EventDtsMatchesZod = [
  Assert<SameKeys<Generated.EmailReceivedEvent, Bridge.EmailReceivedEvent>>,
  Assert<MutuallyAssignable<Generated.EmailReceivedEvent, JsonShape<Bridge.EmailReceivedEvent>>>,
  Assert<MutuallyAssignable<Generated.EmailReceivedData, JsonShape<Bridge.EmailReceivedData>>>,
  Assert<MutuallyAssignable<Generated.EmailAddress, JsonShape<Bridge.EmailAddress>>>,
  Assert<MutuallyAssignable<Generated.Header, JsonShape<Bridge.EventHeader>>>,
  Assert<MutuallyAssignable<Generated.Attachment, JsonShape<Bridge.EventAttachment>>>,
  Assert<MutuallyAssignable<Generated.ParseError, JsonShape<Bridge.EventParseError>>>,
  Assert<MutuallyAssignable<Generated.Truncated, JsonShape<Bridge.EventTruncation>>>,
  // An event built to the generated types (a receiver's test fixture) is a bridge event as it stands.
  Assert<Generated.EmailReceivedEvent extends Bridge.EmailReceivedEvent ? true : false>,
];
