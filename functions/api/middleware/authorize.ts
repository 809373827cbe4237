import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Scope } from '../../../shared/api-keys/schema.js';
import { ForbiddenError } from '../../../shared/errors/errors.js';
import type { AppEnv } from '../env.js';

/** Operator-only operations (tenants, jobs). */
export function requireOperator() {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.var.principal.kind !== 'operator') {
      throw new ForbiddenError('This operation needs the operator key.', 'OPERATOR_KEY_REQUIRED');
    }
    await next();
  });
}

/** Tenant operations: the key must carry one of `scopes`. */
export function requireScope(...scopes: Scope[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const principal = c.var.principal;
    if (principal.kind !== 'tenant') {
      throw new ForbiddenError(
        'This operation needs a tenant API key, not the operator key.',
        'TENANT_KEY_REQUIRED',
      );
    }
    if (!scopes.some((scope) => principal.scopes.includes(scope))) {
      throw new ForbiddenError(
        `This operation needs a key with scope ${scopes.map((s) => `"${s}"`).join(' or ')}.`,
      );
    }
    await next();
  });
}

/** The calling tenant, in an operation guarded by `requireScope`. */
export function tenantOf(c: Context<AppEnv>): string {
  const principal = c.var.principal;
  if (principal.kind !== 'tenant') throw new Error('tenant operation reached without a tenant principal');
  return principal.tenantId;
}
