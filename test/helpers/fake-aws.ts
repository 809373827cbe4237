import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeAwsCall {
  /** The operation, from `X-Amz-Target` (`secretsmanager.GetSecretValue`, `AWSEvents.PutEvents`). */
  target: string;
  // biome-ignore lint/suspicious/noExplicitAny: request bodies are asserted on, not trusted.
  body: any;
}

export type FakeAwsReply = { status?: number; body: Record<string, unknown> };
// biome-ignore lint/suspicious/noExplicitAny: request bodies are asserted on, not trusted.
export type FakeAwsHandler = (body: any) => FakeAwsReply;

export interface FakeAwsService {
  endpoint: string;
  calls: FakeAwsCall[];
  /** Replace how an operation answers (a failure, a rotation…). */
  on(target: string, handler: FakeAwsHandler): void;
  close(): Promise<void>;
}

/**
 * An AWS service speaking its documented JSON 1.1 protocol (POST /, `X-Amz-Target`, errors as
 * `{"__type": …}`) on 127.0.0.1, for what has no local emulator: Secrets Manager, EventBridge.
 * The real SDK clients talk to it; the server never keeps the process alive.
 */
export async function startFakeAwsService(handlers: Record<string, FakeAwsHandler>): Promise<FakeAwsService> {
  const routes = new Map(Object.entries(handlers));
  const calls: FakeAwsCall[] = [];
  const server = createServer(async (request, response) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    const body = JSON.parse((await readBody(request)) || '{}');
    calls.push({ target, body });
    const handler = routes.get(target);
    const reply: FakeAwsReply = handler
      ? handler(body)
      : { status: 400, body: { __type: 'UnknownOperationException', message: target } };
    const status = reply.status ?? 200;
    response.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      ...(status >= 300 ? { 'x-amzn-errortype': String(reply.body.__type ?? 'InternalFailure') } : {}),
    });
    response.end(JSON.stringify(reply.body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    on: (target, handler) => routes.set(target, handler),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Credentials for SDK clients pointed at a fake: fixed, so the SDK never looks for real ones. */
export const FAKE_CREDENTIALS = { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake-secret' };
