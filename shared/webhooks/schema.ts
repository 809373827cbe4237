import { z } from '@hono/zod-openapi';
import { displayText } from '../display-text.js';

/** The webhook event types of the contract (API.md); a bus event `x.y.v1` is delivered as `x.y`. */
export const WEBHOOK_EVENT_TYPES = [
  'budget.threshold_crossed',
  'budget.exceeded',
  'budget.forecast_exceeded',
  'budget.resolved',
  'anomaly.detected',
  'billing.drift_detected',
  'data_quality.unpriced_usage',
  'webhook.endpoint_disabled',
  'webhook.test',
] as const;
export const WebhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES).openapi('WebhookEventType');

const UrlSchema = z
  .string()
  .trim()
  .max(2048)
  .pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }))
  // Kept as it will be requested: "https://ex%61mple.com" and "http://0x7f.1" name the hosts
  // they reach, and a fragment, never sent, is dropped.
  .transform((url) => {
    const parsed = new URL(url);
    parsed.hash = '';
    return parsed.href;
  })
  .openapi({ example: 'https://hooks.example.com/tollgate' });

const EventTypesSchema = z
  .array(WebhookEventTypeSchema)
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length)
  .refine((types) => new Set(types).size === types.length, { message: 'event_types must not repeat' })
  .nullable()
  .openapi({ description: 'Only these event types are sent; null or absent: every type.' });

export const CreateWebhookEndpointSchema = z
  .object({
    url: UrlSchema,
    event_types: EventTypesSchema.optional(),
    description: displayText(500).optional(),
  })
  .strict()
  .openapi('CreateWebhookEndpoint');
export type CreateWebhookEndpoint = z.infer<typeof CreateWebhookEndpointSchema>;

export const ENDPOINT_STATUSES = ['enabled', 'disabled'] as const;

export const UpdateWebhookEndpointSchema = z
  .object({
    url: UrlSchema.optional(),
    event_types: EventTypesSchema.optional(),
    description: displayText(500).nullable().optional(),
    status: z
      .enum(ENDPOINT_STATUSES)
      .optional()
      .openapi({ description: '`enabled` re-enables a disabled endpoint; `disabled` pauses it.' }),
  })
  .strict()
  .openapi('UpdateWebhookEndpoint');
export type UpdateWebhookEndpoint = z.infer<typeof UpdateWebhookEndpointSchema>;

export const WebhookEndpointSchema = z
  .object({
    id: z.string().openapi({ example: 'whe_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
    url: z.string(),
    description: z.string().nullable(),
    event_types: z.array(WebhookEventTypeSchema).nullable(),
    status: z.enum(ENDPOINT_STATUSES),
    disabled_reason: z
      .string()
      .nullable()
      .openapi({ description: 'Why Tollgate (or the tenant) disabled the endpoint.' }),
    disabled_at: z.string().nullable().openapi({ format: 'date-time' }),
    failing_since: z.string().nullable().openapi({
      format: 'date-time',
      description: 'The first failed attempt since the last success; after 5 days the endpoint is disabled.',
    }),
    previous_secret_expires_at: z.string().nullable().openapi({
      format: 'date-time',
      description:
        'Until then, the secret the last rotation replaced also signs (as do earlier replaced ones, each until 24 h after its own rotation).',
    }),
    created_at: z.string().openapi({ format: 'date-time' }),
    updated_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('WebhookEndpoint');
export type WebhookEndpoint = z.infer<typeof WebhookEndpointSchema>;

export const CreatedWebhookEndpointSchema = WebhookEndpointSchema.extend({
  secret: z
    .string()
    .openapi({ example: 'whsec_…', description: 'The signing secret. Shown once: store it now.' }),
}).openapi('CreatedWebhookEndpoint');

export const RotatedSecretSchema = z
  .object({
    id: z.string(),
    secret: z.string().openapi({ description: 'The new signing secret. Shown once.' }),
    previous_secret_expires_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('RotatedWebhookSecret');

export const DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export const DeliveryAttemptSchema = z
  .object({
    attempt: z.number().int(),
    at: z.string().openapi({ format: 'date-time' }),
    status_code: z.number().int().nullable().openapi({ description: 'Null when no response came back.' }),
    latency_ms: z.number().int(),
    error: z.string().nullable().openapi({ example: 'timeout after 15000 ms' }),
  })
  .openapi('WebhookDeliveryAttempt');
export type DeliveryAttempt = z.infer<typeof DeliveryAttemptSchema>;

export const WebhookDeliverySchema = z
  .object({
    id: z.string().openapi({ example: 'del_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
    endpoint_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    state: z.enum(DELIVERY_STATES).openapi({
      description: '`pending` (more attempts to come), `delivered`, or `failed` (dead-lettered; replayable).',
    }),
    attempts: z.number().int(),
    status_code: z.number().int().nullable().openapi({ description: 'Of the last attempt.' }),
    latency_ms: z.number().int().nullable().openapi({ description: 'Of the last attempt.' }),
    last_error: z.string().nullable(),
    next_retry_at: z.string().nullable().openapi({ format: 'date-time' }),
    replay_of: z.string().nullable(),
    created_at: z.string().openapi({ format: 'date-time' }),
    updated_at: z.string().openapi({ format: 'date-time' }),
    attempt_log: z.array(DeliveryAttemptSchema),
  })
  .openapi('WebhookDelivery');
export type WebhookDelivery = z.infer<typeof WebhookDeliverySchema>;

/** The body Tollgate posts: the contract's envelope (API.md). */
export interface WebhookPayload {
  id: string;
  type: string;
  created_at: string;
  tenant_id: string;
  data: Record<string, unknown>;
}
