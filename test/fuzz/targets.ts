/**
 * The fuzz targets: every parser that sees bytes from a server, a config file or a sender, each with the
 * property it must keep on any input. One module, so the CI slice (test/fuzz/fuzz.test.ts) and the bench run
 * (bench/fuzz.ts) exercise exactly the same code path; only the number of runs differs.
 *
 * A target's `run` returns normally for a clean result, throws a `BridgeError` with one of its `typedCodes`
 * for a typed refusal, and throws `FuzzViolation` when it sees a wrong result (schema-invalid event, a secret
 * in an error, a body that does not round-trip). Anything else it throws is an uncaught exception: a bug.
 */
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import fc from 'fast-check';
import { parseConfig } from '../../functions/config/validate.js';
import { BridgeError, type ErrorCode } from '../../functions/core/errors.js';
import { buildEvent } from '../../functions/events/build-event.js';
import { BorrowedReads } from '../../functions/pop3/borrowed-reads.js';
import { Pop3Client } from '../../functions/pop3/client.js';
import {
  errorForReply,
  parseCapabilities,
  parseGreeting,
  parseListEntry,
  parseStat,
  parseStatusLine,
  parseUidlEntry,
} from '../../functions/pop3/commands.js';
import { DotDecoder } from '../../functions/pop3/dot-decoder.js';
import { ReplyReader, type ReplyShape } from '../../functions/pop3/reply-reader.js';
import { createMechanism, type SaslMechanismName } from '../../functions/pop3/sasl.js';
import { eventHarness, eventValidators, schemaErrors } from '../events/support.js';
import { HOSTILE_CASES } from '../fixtures/hostile/corpus.js';
import { fixtures } from '../support/fixtures.js';
import {
  cutPoints,
  expectedUnstuffed,
  FakeSocket,
  hostileBytes,
  lineBytes,
  mailboxConfig,
  mutate,
  mutation,
  nearGrammar,
  READER_LIMITS,
  readThrough,
  referenceStuff,
  replyFragments,
  scanListingLines,
  split,
  statusLines,
} from './arbitraries.js';

/** A wrong result on a given input: a failed property, not a crash. */
export class FuzzViolation extends Error {
  override readonly name = 'FuzzViolation';
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new FuzzViolation(what);
}

/** An opened target: its input generator and the function that runs one input. */
export interface OpenTarget<T> {
  readonly arbitrary: fc.Arbitrary<T>;
  run(input: T): void | Promise<void>;
  close?(): Promise<void>;
}

export interface FuzzTarget {
  readonly name: string;
  /** Runs in the bench; the CI slice runs a fixed small number. The bench total is ≥ 100,000. */
  readonly benchRuns: number;
  /** A run taking longer than this is counted as a hang. */
  readonly perInputMs: number;
  /** BridgeError codes that are a correct, typed refusal of bad input. Any other code is a violation. */
  readonly typedCodes: ReadonlyArray<ErrorCode>;
  // biome-ignore lint/suspicious/noExplicitAny: each target has its own input type; the runner never looks inside it.
  open(): Promise<OpenTarget<any>>;
}

/** Every code the POP3 parsers may use to refuse a reply. */
const POP3_PARSE_CODES: ReadonlyArray<ErrorCode> = [
  'POP3_ERR_PROTOCOL',
  'POP3_ERR_LIMIT',
  'POP3_ERR_RESPONSE',
  'POP3_ERR_SYS_TEMP',
  'POP3_ERR_SYS_PERM',
  'POP3_ERR_IN_USE',
  'POP3_ERR_AUTH',
  'POP3_ERR_LOGIN_DELAY',
  'POP3_ERR_CLOSED',
];

// ------------------------------------------------------------- commands.ts

const statusLine: FuzzTarget = {
  name: 'pop3 status line',
  benchRuns: 20_000,
  perInputMs: 100,
  typedCodes: POP3_PARSE_CODES,
  open: async () => ({
    arbitrary: statusLines,
    run(line: string) {
      const status = parseStatusLine(line);
      check(typeof parseGreeting(status).text === 'string', 'parseGreeting returned no text');
      check(errorForReply(status, 'RETR') instanceof BridgeError, 'errorForReply returned no BridgeError');
    },
  }),
};

const statListUidl: FuzzTarget = {
  name: 'STAT/LIST/UIDL lines',
  benchRuns: 20_000,
  perInputMs: 100,
  typedCodes: POP3_PARSE_CODES,
  open: async () => ({
    arbitrary: fc.tuple(fc.constantFrom('stat', 'list', 'uidl'), scanListingLines, fc.integer({ min: 0, max: 600 })),
    run([which, line, maxUidl]: [string, string, number]) {
      if (which === 'stat') {
        const { count, size } = parseStat(line);
        check(Number.isSafeInteger(count) && count >= 0 && Number.isSafeInteger(size) && size >= 0, 'bad STAT');
      } else if (which === 'list') {
        const { msg, size } = parseListEntry(line);
        check(Number.isSafeInteger(msg) && msg >= 1 && Number.isSafeInteger(size) && size >= 0, 'bad LIST entry');
      } else {
        const { msg, uidl } = parseUidlEntry(line, maxUidl);
        check(Number.isSafeInteger(msg) && msg >= 1, 'bad UIDL message number');
        check(uidl.length >= 1 && uidl.length <= Math.max(maxUidl, 1), `UIDL of ${uidl.length} > ${maxUidl}`);
      }
    },
  }),
};

const capa: FuzzTarget = {
  name: 'CAPA lines',
  benchRuns: 10_000,
  perInputMs: 100,
  typedCodes: POP3_PARSE_CODES,
  open: async () => ({
    arbitrary: fc.array(
      fc.oneof(nearGrammar, fc.constantFrom('SASL PLAIN LOGIN', 'STLS', 'PIPELINING', 'EXPIRE NEVER', 'LOGIN-DELAY 9')),
      { maxLength: 10 },
    ),
    run(lines: string[]) {
      const caps = parseCapabilities(lines);
      check(Array.isArray(caps.sasl) && caps.sasl.every((m) => m === m.toUpperCase()), 'SASL names not upper-cased');
    },
  }),
};

// ----------------------------------------------------------- dot-decoder.ts

const DOT_LIMITS = { maxBodyLineBytes: 1 << 30, maxMessageBytes: 1 << 30 };

const dotRoundTrip: FuzzTarget = {
  name: 'dot-unstuffing round trip',
  benchRuns: 15_000,
  perInputMs: 100,
  // A well-stuffed body within the limits must decode; any error is a violation.
  typedCodes: [],
  open: async () => ({
    arbitrary: fc.tuple(fc.oneof(hostileBytes, lineBytes), fc.uint8Array({ maxLength: 20 }), cutPoints(12)),
    run([body, trailing, cuts]: [Uint8Array, Uint8Array, number[]]) {
      const decoder = new DotDecoder(DOT_LIMITS);
      const out: Buffer[] = [];
      const rest: Buffer[] = [];
      for (const chunk of split(Buffer.concat([referenceStuff(body), trailing]), cuts)) {
        const result = decoder.feed(chunk);
        out.push(...result.out);
        if (result.done && result.rest) rest.push(result.rest);
      }
      const expected = expectedUnstuffed(body);
      check(decoder.done, 'terminator not found');
      check(Buffer.concat(out).equals(expected), 'decoded body differs from the reference');
      check(decoder.bytes === expected.length, 'byte count differs');
      check(Buffer.concat(rest).equals(Buffer.from(trailing)), 'bytes after the terminator lost');
    },
  }),
};

const dotRaw: FuzzTarget = {
  name: 'dot-unstuffing raw bytes',
  benchRuns: 10_000,
  perInputMs: 100,
  typedCodes: ['POP3_ERR_LIMIT', 'POP3_ERR_PROTOCOL'],
  open: async () => ({
    // Small limits, so line and message caps are hit too.
    arbitrary: fc.tuple(hostileBytes, cutPoints(12), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 400 })),
    run([bytes, cuts, maxLine, maxMessage]: [Uint8Array, number[], number, number]) {
      const decoder = new DotDecoder({ maxBodyLineBytes: maxLine, maxMessageBytes: maxMessage });
      let out = 0;
      for (const chunk of split(Buffer.from(bytes), cuts)) {
        for (const piece of decoder.feed(chunk).out) out += piece.length;
      }
      check(out === decoder.bytes, 'byte count differs from the bytes handed out');
      check(out <= bytes.length, 'decoder produced more bytes than it read');
    },
  }),
};

// ----------------------------------------------------------- reply-reader.ts

async function drainBody(stream: Readable): Promise<unknown> {
  try {
    for await (const _chunk of stream);
    return undefined;
  } catch (error) {
    return error;
  }
}

const replyReader: FuzzTarget = {
  name: 'reply reader (pipelined)',
  benchRuns: 10_000,
  perInputMs: 1_000,
  typedCodes: POP3_PARSE_CODES,
  open: async () => ({
    arbitrary: fc.tuple(
      fc.array(fc.tuple(fc.constantFrom<ReplyShape>('line', 'list', 'body'), fc.boolean()), {
        minLength: 1,
        maxLength: 5,
      }),
      replyFragments,
      cutPoints(8),
      // Bytes as 'data' events, or through one reused read buffer (implicit TLS) that is overwritten after
      // every read: a byte the reader kept without copying then turns into junk.
      fc.boolean(),
    ),
    async run([shapes, bytes, cuts, borrowed]: [Array<[ReplyShape, boolean]>, Buffer, number[], boolean]) {
      const fatal: unknown[] = [];
      const reader = new ReplyReader(READER_LIMITS, (error) => fatal.push(error));
      const socket = new FakeSocket();
      const reads = borrowed ? new BorrowedReads() : undefined;
      reader.attach(socket as unknown as Duplex, reads);
      const feed = (chunk: Buffer): void => {
        if (reads) readThrough(reads, chunk);
        else socket.emit('data', chunk);
      };
      const ends: Array<'pending' | 'settled' | 'failed'> = shapes.map(() => 'pending');
      const bodies: Array<Promise<unknown>> = [];
      const failures: unknown[] = [];
      shapes.forEach(([shape, allowContinuation], i) => {
        reader.expect({
          verb: `CMD${i}`,
          shape,
          allowContinuation,
          settle: (reply) => {
            check(ends[i] === 'pending', `reply ${i} settled twice`);
            ends[i] = 'settled';
            if (reply.body) bodies.push(drainBody(reply.body));
          },
          fail: (error) => {
            check(ends[i] === 'pending', `reply ${i} failed after settling`);
            ends[i] = 'failed';
            failures.push(error);
          },
          complete: () => undefined,
        });
      });
      for (const chunk of split(bytes, cuts)) {
        feed(chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
      socket.emit('end');
      const bodyErrors = (await Promise.all(bodies)).filter((e) => e !== undefined);
      // The connection ended, so the reader must have given up with one typed error of its own making.
      check(fatal.length === 1 && fatal[0] instanceof BridgeError, 'no single typed fatal error at end');
      check((fatal[0] as BridgeError).cause === undefined, `internal crash wrapped: ${(fatal[0] as Error).message}`);
      check(!ends.includes('pending'), 'a reply neither settled nor failed');
      for (const e of [...failures, ...bodyErrors]) check(e instanceof BridgeError, `untyped failure: ${String(e)}`);
    },
  }),
};

// ------------------------------------------------------------------- sasl.ts

const MECHANISMS: ReadonlyArray<SaslMechanismName> = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2', 'OAUTHBEARER'];
/** Every secret a SASL target uses carries this marker, so a leak is found by a plain search. */
const SASL_SECRET_MARK = 'FUZZSECRET';

const saslMechanisms: FuzzTarget = {
  name: 'SASL mechanisms',
  benchRuns: 10_000,
  perInputMs: 100,
  typedCodes: ['POP3_ERR_AUTH_UNSUPPORTED'],
  open: async () => ({
    arbitrary: fc.record({
      name: fc.constantFrom(...MECHANISMS),
      username: fc.string({ maxLength: 40 }),
      password: fc.option(
        fc.string({ maxLength: 40 }).map((s) => `${SASL_SECRET_MARK}${s}`),
        { nil: undefined },
      ),
      accessToken: fc.option(
        fc.string({ maxLength: 40 }).map((s) => `${SASL_SECRET_MARK}${s}`),
        { nil: undefined },
      ),
      challenges: fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 12 }),
    }),
    run(input: {
      name: SaslMechanismName;
      username: string;
      password: string | undefined;
      accessToken: string | undefined;
      challenges: Uint8Array[];
    }) {
      try {
        const mechanism = createMechanism(input.name, input, { host: '127.0.0.1', port: 110 });
        const initial = mechanism.initialResponse();
        check(initial === undefined || Buffer.isBuffer(initial), 'initial response is not bytes');
        input.challenges.forEach((challenge, index) => {
          const answer = mechanism.respond(Buffer.from(challenge), index);
          check(answer === undefined || Buffer.isBuffer(answer), 'answer is not bytes');
        });
      } catch (error) {
        if (error instanceof Error) check(!error.message.includes(SASL_SECRET_MARK), 'secret in a SASL error');
        throw error;
      }
    },
  }),
};

/** One server line in a hostile SASL exchange, or the server hanging up. */
const hostileSaslLine = fc.oneof(
  fc.uint8Array({ maxLength: 120 }).map((b) => `+ ${Buffer.from(b).toString('base64')}`),
  fc.constantFrom(
    '+ ',
    '+',
    '+ not base64 at all!',
    `+ ${Buffer.from('{"status":"401","schemes":"bearer","scope":"x"}').toString('base64')}`,
    `+ ${'A'.repeat(300)}`,
    '+OK',
    '+OK logged in',
    '-ERR [AUTH] no',
    '-ERR [SYS/TEMP] later',
    '-ERR [IN-USE] busy',
    '-ERR [LOGIN-DELAY] wait',
    '',
    'garbage',
    'CLOSE',
  ),
  fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !/[\r\n]/.test(s)),
);

interface SaslScript {
  method: 'plain' | 'login' | 'cram-md5' | 'xoauth2' | 'oauthbearer';
  lines: string[];
  longToken: boolean;
}

/**
 * A loopback POP3 server that greets, offers every SASL mechanism and then answers the AUTH line and each
 * client line after it with the next scripted line (then `-ERR done`). One exchange at a time.
 */
async function hostileSaslServer(): Promise<{ port: number; script: SaslScript; close(): Promise<void> }> {
  const state = { script: { method: 'plain', lines: [], longToken: false } as SaslScript };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const script = [...state.script.lines];
    let authStarted = false;
    let pending = '';
    socket.write('+OK hostile\r\n');
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let at = pending.indexOf('\r\n'); at >= 0; at = pending.indexOf('\r\n')) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 2);
        if (!authStarted && line === 'CAPA') {
          socket.write('+OK\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER\r\n.\r\n');
        } else if (!authStarted && line === 'QUIT') {
          socket.end('+OK bye\r\n');
        } else if (authStarted || line.startsWith('AUTH ')) {
          authStarted = true;
          const next = script.shift() ?? '-ERR done';
          if (next === 'CLOSE') socket.destroy();
          else socket.write(`${next}\r\n`);
        } else {
          socket.write('-ERR unexpected\r\n');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get script() {
      return state.script;
    },
    set script(value: SaslScript) {
      state.script = value;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const saslExchange: FuzzTarget = {
  name: 'SASL exchange (hostile server)',
  benchRuns: 4_000,
  perInputMs: 3_000,
  typedCodes: [...POP3_PARSE_CODES, 'POP3_ERR_AUTH_UNSUPPORTED', 'POP3_ERR_TIMEOUT'],
  async open() {
    const server = await hostileSaslServer();
    return {
      arbitrary: fc.record({
        method: fc.constantFrom('plain', 'login', 'cram-md5', 'xoauth2', 'oauthbearer'),
        lines: fc.array(hostileSaslLine, { maxLength: 14 }),
        longToken: fc.boolean(),
      }),
      async run(script: SaslScript) {
        server.script = script;
        const secret = `${SASL_SECRET_MARK}-${script.longToken ? 'x'.repeat(400) : 'short'}`;
        const lines: string[] = [];
        let client: Pop3Client | undefined;
        try {
          client = await Pop3Client.connect({
            host: '127.0.0.1',
            port: server.port,
            tls: 'none',
            allowInsecureAuth: true,
            limits: { commandTimeoutMs: 2_000, greetingTimeoutMs: 2_000 },
            trace: (direction, line) => lines.push(`${direction}: ${line}`),
          });
          await client.login({ username: 'fuzz', password: secret, accessToken: secret, method: script.method });
        } catch (error) {
          if (error instanceof Error) {
            check(!error.message.includes(SASL_SECRET_MARK), 'secret in a login error');
            check(!JSON.stringify(error).includes(SASL_SECRET_MARK), 'secret in a login error field');
          }
          throw error;
        } finally {
          client?.close();
          // The trace is documented as redacted: AUTH payloads never reach it.
          check(!lines.some((l) => l.includes(SASL_SECRET_MARK)), 'secret in the protocol trace');
          // index > 8 cancels (client.ts): a server that keeps challenging cannot keep us talking.
          check(lines.filter((l) => l.startsWith('C:')).length <= 14, 'client kept answering challenges');
        }
      },
      close: () => server.close(),
    };
  },
};

// ---------------------------------------------------------------- validate.ts

const CONFIG_PASSWORD = 'pw-FUZZSECRET-horse';
const CONFIG_WEBHOOK_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

/** A valid mailbox whose fields are each replaced, or not, by arbitrary JSON. */
const mutatedValidMailbox = fc
  .dictionary(
    fc.constantFrom('name', 'host', 'port', 'tls', 'username', 'method', 'webhooks', 'mode'),
    fc.jsonValue(),
    {
      maxKeys: 3,
    },
  )
  .map((overrides) => ({
    name: 'inbox',
    host: 'pop.example.com',
    username: 'user@example.com',
    password: CONFIG_PASSWORD,
    webhooks: [{ url: 'https://hooks.example.com/in', secret: CONFIG_WEBHOOK_SECRET }],
    ...overrides,
  }));

const configValidation: FuzzTarget = {
  name: 'config validation',
  benchRuns: 8_000,
  perInputMs: 500,
  typedCodes: ['CONFIG_ERR_INVALID'],
  open: async () => ({
    arbitrary: fc.oneof(
      fc.jsonValue(),
      fc.record({
        mailboxes: fc.array(fc.oneof(mailboxConfig, fc.jsonValue()), { maxLength: 5 }),
        store: fc.jsonValue(),
      }),
      fc.record({ mailboxes: fc.array(mutatedValidMailbox, { minLength: 1, maxLength: 3 }) }),
    ),
    run(raw: unknown) {
      try {
        const { config, problems, skipped } = parseConfig(raw);
        const mailboxes = (raw as { mailboxes?: unknown }).mailboxes;
        if (Array.isArray(mailboxes)) {
          check(config.mailboxes.length + skipped.length === mailboxes.length, 'a mailbox neither kept nor skipped');
        }
        const told = JSON.stringify({ problems, skipped });
        check(!told.includes(CONFIG_PASSWORD) && !told.includes(CONFIG_WEBHOOK_SECRET), 'secret in config problems');
      } catch (error) {
        if (error instanceof Error) {
          check(!error.message.includes(CONFIG_PASSWORD), 'password in a config error');
          check(!error.message.includes(CONFIG_WEBHOOK_SECRET), 'webhook secret in a config error');
        }
        throw error;
      }
    },
  }),
};

// -------------------------------------------------------------- build-event.ts

const mimeEvent: FuzzTarget = {
  name: 'MIME -> event (mutated)',
  benchRuns: 3_000,
  perInputMs: 10_000,
  typedCodes: [],
  async open() {
    const corpus = [...fixtures().map((f) => f.bytes), ...HOSTILE_CASES.map((c) => c.build())];
    let h = await eventHarness();
    let stored = 0;
    const { published } = eventValidators();
    return {
      arbitrary: fc.tuple(fc.integer({ min: 0, max: corpus.length - 1 }), fc.array(mutation, { maxLength: 6 })),
      async run([index, mutations]: [number, Parameters<typeof mutate>[1]]) {
        // The store keeps everything (content-addressed, no delete): start a fresh one now and then, so a long
        // run stays small on disk.
        if (++stored % 200 === 0) {
          await h.cleanup();
          h = await eventHarness();
        }
        const raw = mutate(corpus[index]!, mutations);
        const event = await buildEvent(await h.storeRaw(raw), h.deps);
        check(published(event) === true, `event fails docs/event.schema.json: ${schemaErrors(published)}`);
        check(event.data.raw.size === raw.length, 'raw size differs');
      },
      close: () => h.cleanup(),
    };
  },
};

export const FUZZ_TARGETS: ReadonlyArray<FuzzTarget> = [
  statusLine,
  statListUidl,
  capa,
  dotRoundTrip,
  dotRaw,
  replyReader,
  saslMechanisms,
  saslExchange,
  configValidation,
  mimeEvent,
];
