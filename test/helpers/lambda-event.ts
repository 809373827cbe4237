import type { LambdaEvent } from 'hono/aws-lambda';

type HttpApiEvent = Extract<LambdaEvent, { rawPath: string }>;

/** An API Gateway HTTP API (payload format 2.0) event, as Lambda receives it. */
export function httpApiEvent(
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string; query?: string } = {},
): HttpApiEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: init.query ?? '',
    headers: { host: 'api.example.com', 'user-agent': 'vitest', ...init.headers },
    requestContext: {
      accountId: '123456789012',
      authentication: null,
      authorizer: {},
      apiId: 'abc123',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'vitest' },
      requestId: 'lambda-req-1',
      routeKey: '$default',
      stage: '$default',
      time: '29/Nov/2026:12:00:00 +0000',
      timeEpoch: 1795953600000,
    },
    ...(init.body === undefined ? {} : { body: init.body }),
    isBase64Encoded: false,
    // API Gateway omits `body` when there is none; hono's type says null, the wire says absent.
  } as HttpApiEvent;
}
