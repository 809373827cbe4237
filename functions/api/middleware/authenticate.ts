import { createHash, timingSafeEqual } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { isTenantKeyShaped } from '../../../shared/api-keys/secrets.js';
import { RateLimitedError, UnauthenticatedError } from '../../../shared/errors/errors.js';
import type { AppEnv } from '../env.js';

function sameSecret(presented: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * Resolves the bearer key to a principal (the operator or a tenant key), then spends one token
 * of the tenant's rate limit. Scope checks are per operation (authorize.ts).
 */
export function authenticate() {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new UnauthenticatedError();
    const presented = match[1];
    const { runtime } = c.var;

    // A key of the tenant shape (`tg_…`) is never the operator's (config refuses one): tenant
    // requests need not wait for the operator key, which on Lambda is read from Secrets Manager.
    const operatorKey = isTenantKeyShaped(presented) ? undefined : await runtime.operatorKey.current();
    if (operatorKey && sameSecret(presented, operatorKey)) {
      c.set('principal', { kind: 'operator' });
      c.set('logger', c.var.logger.child({ principal: 'operator' }));
      await next();
      return;
    }

    const principal = await runtime.services.apiKeys.authenticate(presented);
    if (!principal) throw new UnauthenticatedError('The API key is not valid, or has been revoked.');
    c.set('principal', principal);
    c.set('logger', c.var.logger.child({ tenant_id: principal.tenantId, key_id: principal.keyId }));

    const decision = runtime.rateLimiter.take(principal.tenantId);
    c.header('RateLimit-Limit', String(decision.limit));
    c.header('RateLimit-Remaining', String(decision.remaining));
    c.header('RateLimit-Reset', String(decision.resetSeconds));
    // Its Retry-After is the error handler's, as for every error that names a wait.
    if (!decision.allowed) throw new RateLimitedError(decision.retryAfterSeconds);
    await next();
  });
}
