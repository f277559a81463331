/**
 * The `email.received` webhook event: one zod schema, from which the
 * TypeScript types, the published JSON Schema (`docs/event.schema.json`) and
 * the receivers' declarations (`docs/event.d.ts`, written with it by
 * `npm run event:schema`) are derived, so they cannot drift. Every field is
 * documented in docs/webhooks.md; the `description`s here are the short form
 * (and the JSDoc of `docs/event.d.ts`).
 *
 * Every field is always present (`null` when there is nothing), so receivers
 * never have to tell a missing field from an empty one — except an
 * attachment's `content`, which only local mode with inlining turned on sends.
 */
import { z } from 'zod';

const nullableString = (description: string) => z.string().nullable().meta({ description });

export const EmailAddressSchema = z
  .object({
    address: z.string().meta({
      description:
        'The addr-spec as the header carried it (internationalized domains in Unicode). Never taken from a display name. May be empty.',
    }),
    name: z.string().meta({ description: 'The display name, encoded-words decoded. Empty when there is none.' }),
  })
  .meta({ id: 'EmailAddress' });

const AddressList = (header: string) =>
  z.array(EmailAddressSchema).meta({ description: `Addresses of the ${header} header, groups flattened.` });

export const HeaderSchema = z
  .object({
    name: z.string().meta({ description: 'Header name as written.' }),
    value: z.string().meta({
      description: 'Unfolded value, encoded-words not decoded, 8-bit bytes read as UTF-8; cut at a length cap.',
    }),
  })
  .meta({ id: 'Header' });

export const AttachmentSchema = z
  .object({
    filename: nullableString('File name the part declares (untrusted: never use it as a path).'),
    contentType: z.string().meta({ description: 'MIME type, lower case, without parameters.' }),
    size: z.number().int().nonnegative().meta({ description: 'Decoded size in bytes.' }),
    sha256: nullableString('Hex SHA-256 of the decoded content; null when it could not be stored.'),
    contentId: nullableString('Content-ID without angle brackets, to match `cid:` URLs in `html`.'),
    disposition: z.enum(['attachment', 'inline']).meta({ description: 'Content-Disposition as mailparser reads it.' }),
    url: nullableString('Link to the decoded content; null when it could not be stored.'),
    // A plain pattern, not z.base64(): its JSON Schema `format: "base64"` is unknown to draft-07 validators.
    content: z
      .string()
      .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/)
      .optional()
      .meta({
        contentEncoding: 'base64',
        description:
          'Local mode with `links.inlineMaxBytes` > 0 only: the decoded content as base64, for attachments of at most ' +
          'that size while the event stays under its size limit. Absent otherwise; `url` is there either way.',
      }),
  })
  .meta({ id: 'Attachment' });

export const ParseErrorSchema = z
  .object({
    code: z
      .string()
      .regex(/^EVENT_ERR_[A-Z0-9_]+$/)
      .meta({ description: 'Stable code (docs/webhooks.md lists them; new ones may be added).' }),
    message: z.string().meta({ description: 'Human-readable detail; not stable.' }),
  })
  .meta({ id: 'ParseError' });

export const TruncatedSchema = z
  .object({
    text: z.boolean().meta({ description: '`text` is null because it was too large: fetch it from `textUrl`.' }),
    html: z.boolean().meta({ description: '`html` is null because it was too large: fetch it from `htmlUrl`.' }),
    replyText: z.boolean().meta({ description: '`replyText` is null because the event had no room for it.' }),
    subject: z.boolean().meta({ description: '`subject` was cut at its length cap.' }),
    headers: z.boolean().meta({ description: '`headers` lists only some of the headers, or cut values.' }),
    addresses: z.boolean().meta({ description: 'An address list lists only some of its addresses, or cut names.' }),
    references: z.boolean().meta({ description: '`references` lists only the most recent ids.' }),
    attachments: z.boolean().meta({ description: '`attachments` lists only some of the attachments.' }),
  })
  .meta({ id: 'Truncated', description: 'What the event leaves out; the raw message (`raw.url`) always has it all.' });

export const EmailReceivedDataSchema = z
  .object({
    mailbox: z.string().meta({ description: 'Mailbox name from the configuration.' }),
    uid: z.string().meta({
      description:
        'Identity of the message in the mailbox: the UIDL; `<UIDL>#h:<hash>` for a duplicated or reused UIDL; ' +
        '`h:<hash>` without UIDL (hash: of the headers); `#2`, `#3` appended for byte-identical copies.',
    }),
    messageId: nullableString('Message-ID with angle brackets.'),
    date: z.iso.datetime().nullable().meta({ description: 'Date header in UTC; null when missing or unparseable.' }),
    subject: nullableString('Subject, encoded-words decoded.'),
    from: AddressList('From'),
    to: AddressList('To'),
    cc: AddressList('Cc'),
    bcc: AddressList('Bcc'),
    replyTo: AddressList('Reply-To'),
    inReplyTo: nullableString('In-Reply-To.'),
    references: z.array(z.string()).meta({ description: 'Message-IDs of References, oldest first.' }),
    headers: z.array(HeaderSchema).meta({ description: 'Top-level headers in order (capped).' }),
    text: nullableString('Plain-text body (HTML converted when there is no text part); null when none or truncated.'),
    textUrl: nullableString('Link to the full plain-text body (UTF-8) when `truncated.text`.'),
    html: nullableString('HTML body; null when none or truncated.'),
    htmlUrl: nullableString('Link to the full HTML body (UTF-8) when `truncated.html`.'),
    replyText: nullableString('`text` without quoted replies and separators (heuristic, see docs).'),
    autoReply: z
      .boolean()
      .meta({ description: 'Generated automatically (auto-reply, vacation, bounce): do not answer.' }),
    attachments: z.array(AttachmentSchema),
    raw: z
      .object({
        size: z.number().int().nonnegative().meta({ description: 'Size of the raw message in bytes.' }),
        sha256: z.string().meta({ description: 'Hex SHA-256 of the raw message.' }),
        url: z.string().meta({ description: 'Link to the raw message (message/rfc822).' }),
      })
      .meta({ id: 'RawMessage' }),
    truncated: TruncatedSchema,
    parseErrors: z
      .array(ParseErrorSchema)
      .meta({ description: 'What went wrong while parsing; the event holds what could be parsed.' }),
  })
  .meta({ id: 'EmailReceivedData' });

export const EmailReceivedEventSchema = z
  .object({
    type: z.literal('email.received'),
    timestamp: z.iso.datetime().meta({
      description: 'When the bridge stored the message (UTC): the same on every retry and replay, so the body is too.',
    }),
    data: EmailReceivedDataSchema,
  })
  .meta({
    title: 'email.received',
    description: 'pop3-bridge webhook event: one stored message. Receivers must ignore fields they do not know.',
  });

export type EmailAddress = z.output<typeof EmailAddressSchema>;
export type EventHeader = z.output<typeof HeaderSchema>;
export type EventAttachment = z.output<typeof AttachmentSchema>;
export type EventParseError = z.output<typeof ParseErrorSchema>;
export type EventTruncation = z.output<typeof TruncatedSchema>;
export type EmailReceivedData = z.output<typeof EmailReceivedDataSchema>;
export type EmailReceivedEvent = z.output<typeof EmailReceivedEventSchema>;
