import { z } from '@hono/zod-openapi';

/** A name Tollgate groups and filters by: a dimension key, an outcome name. */
export const NameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_.-]*$/, 'lowercase letters, digits, "_", "-" or "."; starting with a letter')
  // The one such name every JavaScript object already has: a map keyed by it is taken for a class
  // instance by the store's marshaller, which refuses it, so no event or key could ever be stored.
  .refine((name) => name !== 'constructor', '"constructor" is reserved; use another name');

export const MAX_DIMENSIONS = 20;

/** A provider as usage events name it: budgets, checks and authorizations match it exactly. */
export const ProviderNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[a-z0-9][a-z0-9_.-]*$/,
    'lowercase, e.g. openai, anthropic, google, bedrock, azure, mistral, custom',
  );

/** Dimension pairs an event carries, or a key restricts to. */
export const dimensionsSchema = (minimum: number) =>
  z.preprocess(refuseProtoKey, dimensionPairsSchema(minimum));

/**
 * zod's record skips an own `__proto__` key (JSON.parse makes one) instead of judging it, so the
 * pair would vanish from an accepted event: it is refused here, as any key outside the pattern.
 */
function refuseProtoKey(value: unknown, context: z.RefinementCtx): unknown {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
    const problem = NameSchema.safeParse('__proto__').error?.issues[0]?.message;
    context.addIssue({ code: 'custom', path: ['__proto__'], message: `the key: ${problem}`, input: value });
  }
  return value;
}

const dimensionPairsSchema = (minimum: number) =>
  z
    .record(NameSchema, z.string().min(1).max(256), {
      // Say why the key is refused (zod's own message is "Invalid key in record").
      error: (issue) => (issue.code === 'invalid_key' ? `the key: ${issue.issues[0]?.message}` : undefined),
    })
    .refine((value) => Object.keys(value).length >= minimum && Object.keys(value).length <= MAX_DIMENSIONS, {
      message: `between ${minimum} and ${MAX_DIMENSIONS} dimension pairs`,
    });
