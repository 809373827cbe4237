import { createMiddleware } from 'hono/factory';
import { ConflictError, UnprocessableError, ValidationError } from '../../../shared/errors/errors.js';
import {
  type IdempotencyOwner,
  type KeptResponse,
  MAX_KEPT_BODY_BYTES,
  requestFingerprint,
} from '../../../shared/idempotency/idempotency.js';
import type { AppEnv } from '../env.js';

/** When to retry a request whose first run under the same key is still going. */
const IN_PROGRESS_RETRY_AFTER_SECONDS = 1;

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** A key as sent (RFC 8941 string, quotes optional): 1–255 printable ASCII characters. */
const KEY_PATTERN = /^"?([\x20-\x21\x23-\x7e]{1,255})"?$/;
const NULL_BODY_STATUSES = new Set([204, 205, 304]);
/** The response headers a replay carries again. */
const KEPT_HEADERS = ['content-type', 'location'];

/**
 * `Idempotency-Key` on POST requests: the first request with a key runs and a successful answer is
 * kept for 24 h; a retry with the same key and the same request answers it again (marked
 * `Idempotent-Replayed: true`) without running. An error answer is not kept, so a retry after
 * one runs again; every run of the request gets the same seed (`idempotentRun`), from which the
 * objects it creates take their ids, so a rerun after a 5xx finds them instead of creating twins.
 * On every authenticated POST (openapi.ts), after its access check.
 */
export function idempotency() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header(IDEMPOTENCY_KEY_HEADER);
    if (header === undefined) return next();
    const idempotencyKey = KEY_PATTERN.exec(header.trim())?.[1];
    if (!idempotencyKey) {
      throw new ValidationError('The Idempotency-Key header is invalid.', [
        { path: 'header.idempotency-key', message: 'Must be 1 to 255 printable ASCII characters.' },
      ]);
    }
    const { runtime, principal } = c.var;
    const keys = runtime.services.idempotency;
    const owner: IdempotencyOwner =
      principal.kind === 'tenant' ? { kind: 'tenant', tenantId: principal.tenantId } : { kind: 'operator' };
    const url = new URL(c.req.url);
    const fingerprint = requestFingerprint('POST', url.pathname + url.search, await c.req.text());

    const claim = await keys.claim(owner, idempotencyKey, fingerprint);
    if (claim.kind === 'replay') {
      // A response of a null-body status must be built without one (the constructor refuses '').
      const { status } = claim.response;
      return new Response(NULL_BODY_STATUSES.has(status) ? null : claim.response.body, {
        status,
        headers: { ...claim.response.headers, 'idempotent-replayed': 'true' },
      });
    }
    if (claim.kind === 'in-progress') {
      // The first request is taken over if it has not finished within a minute (a crash).
      c.header('Retry-After', String(IN_PROGRESS_RETRY_AFTER_SECONDS));
      throw new ConflictError(
        'A request with this Idempotency-Key is still being processed; retry later.',
        'IDEMPOTENCY_KEY_IN_USE',
      );
    }
    if (claim.kind === 'mismatch') {
      throw new UnprocessableError(
        'This Idempotency-Key was used for another request (another path or body); use a new key.',
        'IDEMPOTENCY_KEY_REUSED',
      );
    }

    c.set('idempotentRun', claim.seed);
    let kept: KeptResponse | undefined;
    try {
      await next();
      if (c.res.status < 400) {
        const body = await c.res.clone().text();
        if (Buffer.byteLength(body) <= MAX_KEPT_BODY_BYTES) {
          const headers: Record<string, string> = {};
          for (const name of KEPT_HEADERS) {
            const value = c.res.headers.get(name);
            if (value !== null) headers[name] = value;
          }
          kept = { status: c.res.status, body, headers };
        }
      }
    } finally {
      // The request's own answer stands whatever happens to the key: a key left claimed makes a
      // retry wait (409) until it is taken for stopped, then run again.
      try {
        if (kept) await keys.keep(owner, idempotencyKey, claim.attempt, kept);
        else await keys.release(owner, idempotencyKey, claim.attempt);
      } catch (error) {
        c.var.logger.error({ err: error }, 'idempotency key not updated');
      }
    }
  });
}

/**
 * On a POST whose answer shows a secret once: Tollgate does not keep such an answer, so a key that
 * promises a replay is refused rather than ignored.
 */
export function refuseIdempotencyKey() {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.header(IDEMPOTENCY_KEY_HEADER) === undefined) return next();
    throw new ValidationError(
      'This operation answers a secret that is shown once and not kept, so it cannot be replayed: send it without Idempotency-Key.',
      [{ path: 'header.idempotency-key', message: 'Not supported on this operation.' }],
      'IDEMPOTENCY_KEY_UNSUPPORTED',
    );
  });
}
