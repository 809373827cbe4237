import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RefusedUrlError, type ResolvedAddress } from './address-guard.js';
import { parseRetryAfter } from './retry-policy.js';

export interface SendOutcome {
  /** The response status; null when none came back (refused, unreachable, timeout). */
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  retryAfterSeconds: number | null;
}

export interface SendOptions {
  timeoutMs: number;
  /**
   * When set, the addresses the host may be reached at (`checkedAddresses` of address-guard.ts,
   * which refuses a private host): the connection is made to one of these and DNS is not asked
   * again. Unset only when private URLs are allowed.
   */
  addresses?: ((url: URL) => Promise<ResolvedAddress[]>) | undefined;
  now?: () => Date;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for node:http that answers the addresses already checked, never asking DNS again. */
function pinnedLookup(addresses: ResolvedAddress[]) {
  return (_hostname: string, options: LookupOptions, callback: LookupCallback) => {
    const family = typeof options.family === 'number' ? options.family : 0;
    const usable = addresses.filter((candidate) => family === 0 || candidate.family === family);
    if (options.all) {
      callback(
        null,
        usable.map(({ address, family: f }) => ({ address, family: f })),
      );
      return;
    }
    const first = usable[0];
    if (!first)
      callback(Object.assign(new Error('no checked address of that family'), { code: 'ENOTFOUND' }), '', 0);
    else callback(null, first.address, first.family);
  };
}

/**
 * POSTs one webhook. Redirects are not followed (a 3xx is an answer, and a failure); the whole
 * exchange up to the response's status is bounded by `timeoutMs`; the response body is read
 * and thrown away. Never throws for a network outcome: every outcome is data for the log.
 */
export async function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: SendOptions,
): Promise<SendOutcome> {
  const now = options.now ?? (() => new Date());
  const target = new URL(url);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let addresses: ResolvedAddress[] | undefined;
  if (options.addresses) {
    try {
      addresses = await options.addresses(target);
    } catch (error) {
      if (!(error instanceof RefusedUrlError)) throw error;
      return {
        statusCode: null,
        latencyMs: elapsed(),
        error: `refused: ${error.message}`,
        retryAfterSeconds: null,
      };
    }
  }
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<SendOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<SendOutcome, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...outcome, latencyMs: elapsed() });
    };
    const request = send(
      target,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'Tollgate-Webhooks/1',
        },
        // A fresh connection per attempt: a pooled socket would skip the address check.
        agent: false,
        ...(addresses ? { lookup: pinnedLookup(addresses) } : {}),
      },
      (response: IncomingMessage) => {
        finish({
          statusCode: response.statusCode ?? null,
          error: null,
          retryAfterSeconds: parseRetryAfter(response.headers['retry-after'], now()),
        });
        response.resume();
        response.on('end', () => clearTimeout(timer));
        response.on('error', () => clearTimeout(timer));
      },
    );
    const timer = setTimeout(() => {
      finish({ statusCode: null, error: `timeout after ${options.timeoutMs} ms`, retryAfterSeconds: null });
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      finish({ statusCode: null, error: error.code ?? error.message, retryAfterSeconds: null });
    });
    request.on('close', () => {
      if (settled) clearTimeout(timer);
    });
    request.end(body);
  });
}
