/**
 * A fault-injecting HTTP proxy in front of an AWS API emulator (moto_server):
 * the SDK is pointed at the proxy, which forwards each request to the emulator
 * unless `decide` asks for a fault. Faults have the wire shapes real AWS sends,
 * so the SDK's retry classification sees what it would see in production:
 *
 * - DynamoDB (JSON 1.0 protocol, `x-amz-target` header): 400
 *   `ThrottlingException` / `ProvisionedThroughputExceededException`, 500
 *   `InternalServerError`, 503 `ServiceUnavailable`, each as
 *   `{"__type": "com.amazonaws.dynamodb.v20120810#…", "message": …}`.
 * - S3 (REST-XML): 503 `SlowDown`, 500 `InternalError`, 503 `ServiceUnavailable`
 *   as `<Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId></Error>`.
 * - `drop`: the connection is destroyed before anything is forwarded.
 * - `drop-after`: forwarded, the emulator applies it, and then the answer is
 *   thrown away — the write happened but the client never learns it (the case
 *   that makes idempotency matter).
 *
 * `onExchange` sees every forwarded exchange with the emulator's status and the
 * first bytes of the request body: the soak's durability witness reads it.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type AwsService = 's3' | 'dynamodb' | 'ssm' | 'kms';

export interface ProxiedRequest {
  readonly service: AwsService;
  readonly method: string;
  /** Path and query as the client sent it. */
  readonly path: string;
  /** DynamoDB, SSM or KMS operation (`TransactWriteItems`, `GetParameter`, `Decrypt`, …) from `x-amz-target`; undefined for S3. */
  readonly operation: string | undefined;
}

export type ProxyFault =
  | { readonly kind: 'error'; readonly status: number; readonly code: string }
  | { readonly kind: 'drop' }
  | { readonly kind: 'drop-after' };

export interface ProxiedExchange extends ProxiedRequest {
  readonly status: number;
  /** Up to `maxCapturedBytes` of the request body (DynamoDB requests are small and arrive whole). */
  readonly body: Buffer;
  /** True when the answer reached the client (false for `drop-after`). */
  readonly answered: boolean;
}

export interface FaultProxyOptions {
  /** `http://127.0.0.1:PORT` of the emulator. */
  readonly target: string;
  readonly decide?: (request: ProxiedRequest) => ProxyFault | undefined;
  /**
   * Like `decide`, but also given the whole request body (a DynamoDB key names the mailbox): the proxy then reads
   * each request to its end before deciding and forwarding, instead of streaming it through.
   */
  readonly decideOnBody?: (request: ProxiedRequest, body: Buffer) => ProxyFault | undefined;
  readonly onExchange?: (exchange: ProxiedExchange) => void;
  readonly maxCapturedBytes?: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: give it to the SDK as the endpoint. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/** The DynamoDB error shapes (JSON 1.0): `__type` carries the fully qualified name. */
export const DYNAMODB_FAULTS = {
  throttling: { status: 400, code: 'ThrottlingException' },
  throughput: { status: 400, code: 'ProvisionedThroughputExceededException' },
  internal: { status: 500, code: 'InternalServerError' },
  unavailable: { status: 503, code: 'ServiceUnavailable' },
} as const;

/** The S3 error shapes (REST-XML). */
export const S3_FAULTS = {
  slowDown: { status: 503, code: 'SlowDown' },
  internal: { status: 500, code: 'InternalError' },
  unavailable: { status: 503, code: 'ServiceUnavailable' },
} as const;

function serviceOf(req: http.IncomingMessage): { service: AwsService; operation: string | undefined } {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string' && target.startsWith('DynamoDB_')) {
    return { service: 'dynamodb', operation: target.slice(target.indexOf('.') + 1) };
  }
  if (typeof target === 'string' && target.startsWith('AmazonSSM.')) {
    return { service: 'ssm', operation: target.slice('AmazonSSM.'.length) };
  }
  if (typeof target === 'string' && target.startsWith('TrentService.')) {
    return { service: 'kms', operation: target.slice('TrentService.'.length) };
  }
  return { service: 's3', operation: undefined };
}

function writeError(res: http.ServerResponse, service: AwsService, status: number, code: string): void {
  const requestId = randomUUID();
  if (service === 'dynamodb' || service === 'ssm') {
    const type = service === 'dynamodb' ? `com.amazonaws.dynamodb.v20120810#${code}` : code;
    const body = JSON.stringify({ __type: type, message: `injected ${code}` });
    res.writeHead(status, {
      'content-type': service === 'dynamodb' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
      'x-amzn-requestid': requestId,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>injected ${code}</Message><RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(status, {
    'content-type': 'application/xml',
    'x-amz-request-id': requestId,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const maxCaptured = options.maxCapturedBytes ?? 256 * 1024;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const server = http.createServer((req, res) => {
    const { service, operation } = serviceOf(req);
    const request: ProxiedRequest = { service, method: req.method ?? 'GET', path: req.url ?? '/', operation };
    const { decideOnBody } = options;
    if (decideOnBody === undefined) {
      handle(req, res, request, options.decide?.(request), undefined);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      const body = Buffer.concat(chunks);
      handle(req, res, request, decideOnBody(request, body), body);
    });
  });

  /** Answers with the fault, or forwards the request (streamed, or `body` when already read) and relays the answer. */
  function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    request: ProxiedRequest,
    fault: ProxyFault | undefined,
    body: Buffer | undefined,
  ): void {
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'error') {
      // Drain the body first so the client is not left writing into a closed socket.
      if (body !== undefined) writeError(res, request.service, fault.status, fault.code);
      else {
        req.resume();
        req.once('end', () => writeError(res, request.service, fault.status, fault.code));
      }
      return;
    }
    const captured: Buffer[] = [];
    let capturedBytes = 0;
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        const status = answer.statusCode ?? 502;
        // Told as soon as the emulator answers: the write is applied by then, and the client may be gone
        // already (a SIGKILLed poller), in which case the answer would never be read to its end.
        options.onExchange?.({
          ...request,
          status,
          body: Buffer.concat(captured),
          answered: fault?.kind !== 'drop-after',
        });
        if (fault?.kind === 'drop-after') {
          answer.resume();
          answer.once('end', () => req.socket.destroy());
          return;
        }
        res.once('close', () => answer.resume());
        // The emulator's connection closed mid-answer (moto SIGKILLed, e.g. over its memory cap in the soak):
        // cut the client's too, or it waits out its request timeout on an answer that will never end. The
        // upstream request's 'error' covers a failed connect, not an answer cut short.
        answer.once('close', () => {
          if (!answer.complete) req.socket.destroy();
        });
        res.writeHead(status, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => req.socket.destroy());
    const capture = (chunk: Buffer): void => {
      if (capturedBytes < maxCaptured) {
        captured.push(chunk.subarray(0, maxCaptured - capturedBytes));
        capturedBytes += chunk.length;
      }
    };
    if (body !== undefined) {
      capture(body);
      upstream.end(body);
      return;
    }
    req.on('data', capture);
    req.pipe(upstream);
  }
  // A client that gives up mid-request (its own timeout) must not crash the proxy.
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
