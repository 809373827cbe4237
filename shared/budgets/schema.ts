import { z } from '@hono/zod-openapi';
import { dimensionsSchema, ProviderNameSchema } from '../dimensions/schema.js';
import { displayName } from '../display-text.js';
import { parseDecimal } from '../money/money.js';
import { canonicalTimeZone, isTimeZone, PERIODS, WEEKDAYS } from './period.js';

/**
 * A USD amount as plain digits: at most 12 before the point (a trillion dollars) and 8 after
 * (what every answer shows), so that limits are shown as given and every sum of them stays
 * within the 38 significant digits DynamoDB keeps.
 */
const LIMIT_AMOUNT = /^\d{1,12}(\.\d{1,8})?$/;
/** An estimate's USD amount: at most 12 digits before the point and 20 after. */
const ESTIMATE_AMOUNT = /^\d{1,12}(\.\d{1,20})?$/;

const positiveDecimal = z
  .string()
  .refine(
    (value) => LIMIT_AMOUNT.test(value) && parseDecimal(value).greaterThan(0),
    'a positive amount such as "500.00": plain digits, at most 12 before the point and 8 after',
  );

const nonNegativeDecimal = z
  .string()
  .refine(
    (value) => ESTIMATE_AMOUNT.test(value),
    'an amount such as "0.0123": plain digits, at most 12 before the point and 20 after',
  );

/** What a budget matches: dimension pairs, and optionally `model` and `provider`. */
export const BudgetScopeSchema = dimensionsSchema(0)
  .superRefine((scope, ctx) => {
    // Usage names providers in lowercase: a scope spelled otherwise would match none of it.
    const provider = scope.provider;
    if (provider !== undefined && !ProviderNameSchema.safeParse(provider).success) {
      ctx.addIssue({
        code: 'custom',
        path: ['provider'],
        message: 'a provider as usage events name it: lowercase, e.g. openai, anthropic',
      });
    }
  })
  .openapi('BudgetScope', {
    description:
      "Dimension pairs an event must carry to count against the budget; `model` and `provider` match the event's model (any of its names: a snapshot matches its alias) and provider. `{}` is tenant-wide.",
    example: { feature: 'support-bot' },
  });
export type BudgetScope = z.infer<typeof BudgetScopeSchema>;

export const MoneyLimitSchema = z
  .object({ amount: positiveDecimal.openapi({ example: '500.00' }), currency: z.literal('USD') })
  .strict();
export const TokenLimitSchema = z
  .object({ tokens: z.int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ example: 50_000_000 }) })
  .strict();
export const BudgetLimitSchema = z
  .union([MoneyLimitSchema, TokenLimitSchema], {
    error:
      'a money limit {"amount": "500.00", "currency": "USD"} (USD only) or a token limit {"tokens": 50000000}, not both',
  })
  .openapi('BudgetLimit', {
    description: 'Money (`{amount, currency:"USD"}`) or tokens (`{tokens}`).',
  });
export type BudgetLimit = z.infer<typeof BudgetLimitSchema>;

export const ACTION_TYPES = ['notify', 'throttle', 'downgrade', 'block'] as const;
export const BudgetActionSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('notify') }).strict(),
    z.object({ type: z.literal('throttle') }).strict(),
    z.object({ type: z.literal('block') }).strict(),
    z
      .object({
        type: z.literal('downgrade'),
        model_map: z
          .record(z.string().min(1).max(256), z.string().min(1).max(256))
          .refine((map) => Object.keys(map).length >= 1 && Object.keys(map).length <= 50, {
            message: 'between 1 and 50 model pairs',
          })
          .openapi({ example: { 'gpt-4o': 'gpt-4o-mini' } }),
      })
      .strict(),
  ])
  .openapi('BudgetAction');
export type BudgetAction = z.infer<typeof BudgetActionSchema>;

const ThresholdsSchema = z
  .array(z.int().min(1).max(1000))
  .min(1)
  .max(10)
  .refine((list) => new Set(list).size === list.length, { message: 'thresholds must not repeat' })
  .openapi({ description: 'Percent of the limit, each firing once per period.', example: [50, 80, 100] });

const ActionsSchema = z
  .record(
    z.string().regex(/^[1-9]\d{0,3}$/, 'a threshold as written in thresholds, e.g. "80"'),
    BudgetActionSchema,
  )
  .openapi({ description: 'The action to enforce from a threshold on, keyed by threshold.' });

/** Every action must name one of the thresholds, so each action has a crossing that fires it. */
function actionsNameThresholds(
  body: { thresholds?: number[] | undefined; actions?: Record<string, BudgetAction> | undefined },
  ctx: z.core.$RefinementCtx,
) {
  if (!body.actions || !body.thresholds) return;
  for (const key of Object.keys(body.actions)) {
    if (!body.thresholds.includes(Number(key))) {
      ctx.addIssue({
        code: 'custom',
        path: ['actions', key],
        message: `${key} is not one of the thresholds`,
      });
    }
  }
}

const NameField = displayName(200).openapi({ example: 'support-bot monthly' });

export const CreateBudgetSchema = z
  .object({
    name: NameField,
    scope: BudgetScopeSchema.default({}),
    period: z.enum(PERIODS),
    week_start: z.enum(WEEKDAYS).optional().openapi({ description: 'Weeks only; default monday.' }),
    timezone: z
      .string()
      .default('UTC')
      .refine(isTimeZone, 'an IANA time zone such as Europe/Berlin')
      // Stored as the runtime names it: "europe/berlin" and "US/Pacific" become "Europe/Berlin"
      // and "America/Los_Angeles", so equal zones compare equal.
      .transform(canonicalTimeZone)
      .openapi({ description: 'IANA time zone the periods are aligned in; default UTC.' }),
    limit: BudgetLimitSchema,
    thresholds: ThresholdsSchema.default([50, 80, 100]),
    forecast_alert: z.boolean().default(false),
    actions: ActionsSchema.default({}),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.week_start !== undefined && body.period !== 'week') {
      ctx.addIssue({ code: 'custom', path: ['week_start'], message: 'only for period "week"' });
    }
    actionsNameThresholds(body, ctx);
  })
  .openapi('CreateBudget');
export type CreateBudget = z.infer<typeof CreateBudgetSchema>;

/**
 * What may change on a budget. Scope, period, zone and the limit's unit define what its counters
 * hold: changing them would mix two budgets' numbers, so they are a new budget.
 */
export const UpdateBudgetSchema = z
  .object({
    name: NameField.optional(),
    limit: BudgetLimitSchema.optional(),
    thresholds: ThresholdsSchema.optional(),
    forecast_alert: z.boolean().optional(),
    actions: ActionsSchema.optional(),
  })
  .strict()
  .superRefine(actionsNameThresholds)
  .openapi('UpdateBudget');
export type UpdateBudget = z.infer<typeof UpdateBudgetSchema>;

/** A stored budget definition. `revision` counts limit changes (a raised limit resolves alerts). */
export interface BudgetDefinition {
  id: string;
  name: string;
  scope: BudgetScope;
  period: CreateBudget['period'];
  week_start?: CreateBudget['week_start'];
  timezone: string;
  limit: BudgetLimit;
  thresholds: number[];
  forecast_alert: boolean;
  actions: Record<string, BudgetAction>;
  revision: number;
  created_at: string;
  updated_at: string;
}

export const BUDGET_STATES = ['ok', 'warning', 'exceeded', 'resolved'] as const;
export type BudgetState = (typeof BUDGET_STATES)[number];

const Amount = z
  .union([z.string(), z.int()])
  .openapi({ description: 'A decimal string (USD) for money budgets, an integer for token budgets.' });

export const BudgetStatusSchema = z
  .object({
    unit: z.enum(['usd', 'tokens']),
    spent: Amount,
    reserved: Amount,
    remaining: Amount,
    utilization_pct: z.number(),
    burn_rate_per_day: Amount,
    forecast: Amount.openapi({ description: 'Projected spend at the end of the period.' }),
    projected_exceeded_at: z.string().nullable(),
    period_start: z.string(),
    period_end: z.string(),
    state: z.enum(BUDGET_STATES),
  })
  .openapi('BudgetStatus');
export type BudgetStatus = z.infer<typeof BudgetStatusSchema>;

export const BudgetSchema = z
  .object({
    id: z.string().openapi({ example: 'bud_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
    name: z.string(),
    scope: BudgetScopeSchema,
    period: z.enum(PERIODS),
    week_start: z.enum(WEEKDAYS).optional(),
    timezone: z.string(),
    limit: BudgetLimitSchema,
    thresholds: z.array(z.int()),
    forecast_alert: z.boolean(),
    actions: z.record(z.string(), BudgetActionSchema),
    created_at: z.string(),
    updated_at: z.string(),
    status: BudgetStatusSchema,
  })
  .openapi('Budget');
export type Budget = z.infer<typeof BudgetSchema>;

export const DECISIONS = ['allow', 'warn', 'downgrade', 'throttle', 'block'] as const;
export type Decision = (typeof DECISIONS)[number];

const DimensionsField = dimensionsSchema(0).default({});

export const CheckRequestSchema = z
  .object({
    dimensions: DimensionsField,
    model: z.string().min(1).max(256),
    provider: ProviderNameSchema.optional(),
    estimated_tokens: z.int().min(0).max(100_000_000).optional().openapi({
      description: 'Tokens the call is about to use; priced at the output rate (the worst case).',
    }),
  })
  .strict()
  .openapi('EnforcementCheck');
export type CheckRequest = z.infer<typeof CheckRequestSchema>;

const BudgetDecisionSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(BUDGET_STATES),
  decision: z.enum(DECISIONS),
  remaining: Amount,
});

export const CheckResultSchema = z
  .object({
    decision: z.enum(DECISIONS),
    model: z.string().openapi({ description: 'The model to call: the downgraded one when downgrading.' }),
    budgets: z.array(BudgetDecisionSchema),
  })
  .openapi('EnforcementDecision');
export type CheckResult = z.infer<typeof CheckResultSchema>;

export const AuthorizeRequestSchema = z
  .object({
    id: z
      .string()
      .min(1)
      .max(128)
      .openapi({ description: 'Idempotency key: the same id gets the same answer.' }),
    dimensions: DimensionsField,
    model: z.string().min(1).max(256),
    provider: ProviderNameSchema.optional(),
    estimated_input_tokens: z.int().min(0).max(100_000_000),
    max_output_tokens: z.int().min(0).max(100_000_000).optional(),
    estimated_cost: nonNegativeDecimal
      .optional()
      .openapi({ description: 'USD; instead of pricing the tokens.' }),
    ttl_seconds: z.int().min(1).max(86_400).default(300),
  })
  .strict()
  .refine((body) => body.max_output_tokens !== undefined || body.estimated_cost !== undefined, {
    message: 'give "max_output_tokens" (priced at the model\'s rates) or "estimated_cost"',
    path: ['max_output_tokens'],
  })
  .openapi('AuthorizeRequest');
export type AuthorizeRequest = z.infer<typeof AuthorizeRequestSchema>;

export const RESERVATION_STATES = ['reserved', 'blocked', 'settled', 'released'] as const;
export type ReservationState = (typeof RESERVATION_STATES)[number];

export const AuthorizeResultSchema = z
  .object({
    decision: z.enum(DECISIONS),
    model: z.string(),
    reservation_id: z
      .string()
      .nullable()
      .openapi({ description: 'null when blocked: nothing was reserved.' }),
    reserved: z.object({ cost: z.string(), tokens: z.int(), priced: z.boolean() }),
    remaining: z.object({
      cost: z
        .string()
        .nullable()
        .openapi({ description: 'The least remaining of the matching money budgets.' }),
      tokens: z
        .int()
        .nullable()
        .openapi({ description: 'The least remaining of the matching token budgets.' }),
    }),
    expires_at: z.string().nullable(),
    budgets: z.array(BudgetDecisionSchema),
  })
  .openapi('Authorization');
export type AuthorizeResult = z.infer<typeof AuthorizeResultSchema>;

/**
 * What a usage event's `reservation_id` found, as its ingest answer tells: `settled` (this request
 * settled it), `already_settled` (an earlier event did), `released`, `blocked` (the authorization
 * admitted nothing), `not_found` (no such reservation for this tenant, or past its keeping), or
 * `pending` (the budget step failed here; the rollup settles it). The usage is counted in every case.
 */
export const SETTLEMENTS = [
  'settled',
  'already_settled',
  'released',
  'blocked',
  'not_found',
  'pending',
] as const;
export type Settlement = (typeof SETTLEMENTS)[number];
