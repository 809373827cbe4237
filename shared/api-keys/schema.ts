import { z } from '@hono/zod-openapi';
import { dimensionsSchema } from '../dimensions/schema.js';
import { displayName } from '../display-text.js';

export const SCOPES = ['ingest', 'read', 'admin'] as const;
export const ScopeSchema = z.enum(SCOPES).openapi('Scope');
export type Scope = z.infer<typeof ScopeSchema>;

/** A dimension filter: the key sees only data whose dimensions carry these values. */
export const RestrictSchema = dimensionsSchema(1).openapi('Restrict', { example: { customer: 'acme' } });
export type Restrict = z.infer<typeof RestrictSchema>;

export const CreateApiKeySchema = z
  .object({
    name: displayName(200).openapi({ example: 'dashboard for acme' }),
    scopes: z
      .array(ScopeSchema)
      .min(1)
      .refine((scopes) => new Set(scopes).size === scopes.length, { message: 'scopes must not repeat' }),
    restrict: RestrictSchema.optional(),
  })
  .strict()
  .refine((body) => !body.restrict || body.scopes.every((scope) => scope === 'read'), {
    message: 'a key with "restrict" is a read-only view: its scopes must be ["read"]',
    path: ['restrict'],
  })
  .openapi('CreateApiKey');
export type CreateApiKey = z.infer<typeof CreateApiKeySchema>;

export const ApiKeySchema = z
  .object({
    id: z.string().openapi({ example: 'key_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
    name: z.string(),
    scopes: z.array(ScopeSchema),
    restrict: RestrictSchema.nullable(),
    /** The key's last characters, to tell keys apart; the secret itself is never shown again. */
    hint: z.string().openapi({ example: 'tg_…x7Qa' }),
    created_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('ApiKey');
export type ApiKey = z.infer<typeof ApiKeySchema>;

export const CreatedApiKeySchema = ApiKeySchema.extend({
  key: z.string().openapi({ description: 'The secret key. Shown once: store it now.' }),
}).openapi('CreatedApiKey');
export type CreatedApiKey = z.infer<typeof CreatedApiKeySchema>;
