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

const LIMIT_AMOUNT_FORM = 'plain digits, at most 12 before the point and 8 after';

const positiveDecimal = z
  .string({
    // A JSON number would lose digits and come back in another form: amounts are strings.
    error: (issue) =>
      issue.input === undefined
        ? 'required: a positive amount as a decimal string, such as "500.00"'
        : typeof issue.input === 'number'
          ? `a decimal string such as "500.00" (in quotes, not a JSON number): ${LIMIT_AMOUNT_FORM}`
          : `a decimal string such as "500.00": ${LIMIT_AMOUNT_FORM}`,
  })
  .refine(
    (value) => LIMIT_AMOUNT.test(value) && parseDecimal(value).greaterThan(0),
    `a positive amount such as "500.00": ${LIMIT_AMOUNT_FORM}`,
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
  .object({
    amount: positiveDecimal.openapi({ example: '500.00' }),
    currency: z.literal('USD', { error: 'required: "USD" (money limits are in USD only)' }),
  })
  .strict();

const TOKENS_FORM = 'a whole number of tokens, at least 1, such as 50000000';
export const TokenLimitSchema = z
  .object({
    tokens: z
      .int({
        error: (issue) =>
          issue.input === undefined
            ? `required: ${TOKENS_FORM}`
            : typeof issue.input === 'string'
              ? `${TOKENS_FORM}, as a JSON number (not in quotes)`
              : TOKENS_FORM,
      })
      .min(1, TOKENS_FORM)
      .max(Number.MAX_SAFE_INTEGER, `at most ${Number.MAX_SAFE_INTEGER} tokens`)
      .openapi({ example: 50_000_000 }),
  })
  .strict();

const EITHER_LIMIT =
  'a money limit {"amount": "500.00", "currency": "USD"} or a token limit {"tokens": 50000000}';

/**
 * A limit whose keys say which kind it is (`tokens`; or `amount` with `currency` "USD" or none) is
 * judged as that kind only, so the answer says what is wrong with it ("amount": a string, not a
 * number) rather than that it is neither kind. Any other limit is answered by the union below.
 */
function judgeLimitAsItsKind(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const hasTokens = Object.hasOwn(value, 'tokens');
  const hasMoney = Object.hasOwn(value, 'amount') || Object.hasOwn(value, 'currency');
  const currency = (value as { currency?: unknown }).currency;
  let kind: typeof MoneyLimitSchema | typeof TokenLimitSchema | undefined;
  if (hasTokens && !hasMoney) kind = TokenLimitSchema;
  else if (hasMoney && !hasTokens && (currency === undefined || currency === 'USD')) kind = MoneyLimitSchema;
  for (const issue of kind?.safeParse(value).error?.issues ?? []) {
    ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, input: value });
  }
  return value;
}

export const BudgetLimitSchema = z
  .preprocess(
    judgeLimitAsItsKind,
    z.union([MoneyLimitSchema, TokenLimitSchema], {
      error: (issue) => {
        const given = issue.input;
        if (given === undefined) return `required: ${EITHER_LIMIT}`;
        if (typeof given !== 'object' || given === null || Array.isArray(given)) return EITHER_LIMIT;
        if (Object.hasOwn(given, 'tokens')) return `${EITHER_LIMIT}, not both`;
        if (Object.hasOwn(given, 'currency')) {
          return 'money limits are in USD only: {"amount": "500.00", "currency": "USD"}; or a token limit {"tokens": 50000000}';
        }
        return EITHER_LIMIT;
      },
    }),
  )
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
  .record(z.string().regex(/^[1-9]\d{0,3}$/), BudgetActionSchema, {
    // zod's own message is "Invalid key in record": say what a key is, and how this one is written.
    error: (issue) => {
      if (issue.code !== 'invalid_key') return undefined;
      const key = String(issue.input);
      const written = /^\d+$/.test(key) ? String(Number(key)) : undefined;
      return written !== undefined && written !== key && written !== '0'
        ? `a threshold as written in "thresholds": "${written}", not "${key}"`
        : 'a threshold as written in "thresholds", such as "80"';
    },
  })
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
      // Stored by its IANA canonical name: "europe/berlin", "US/Pacific" and "Asia/Calcutta" become
      // "Europe/Berlin", "America/Los_Angeles" and "Asia/Kolkata", so equal zones compare equal.
      .transform(canonicalTimeZone)
      .openapi({
        description:
          'IANA time zone the periods are aligned in; default UTC. Stored by its canonical name (a link such as `US/Pacific` by the zone it names, `America/Los_Angeles`).',
      }),
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

/** What a budget is created with and keeps: what its counters hold depends on them. */
const FIXED_FIELDS: readonly string[] = ['scope', 'period', 'week_start', 'timezone'];

/** The answer to a change that names fields no change takes: say why the fixed ones are refused. */
function unchangeable(keys: readonly string[]): string | undefined {
  const fixed = keys.filter((key) => FIXED_FIELDS.includes(key));
  if (fixed.length === 0) return undefined;
  const quoted = (list: string[]) => list.map((key) => `"${key}"`).join(', ');
  const unknown = keys.filter((key) => !FIXED_FIELDS.includes(key));
  return (
    `${quoted(fixed)} cannot be changed: scope, period, week_start and timezone define what a budget ` +
    'counts, so changing them is a new budget (create one with POST /v1/budgets, then delete this one)' +
    (unknown.length > 0 ? `; unrecognized: ${quoted(unknown)}` : '')
  );
}

/**
 * What may change on a budget. Scope, period, zone and the limit's unit define what its counters
 * hold: changing them would mix two budgets' numbers, so they are a new budget.
 */
export const UpdateBudgetSchema = z
  .object(
    {
      name: NameField.optional(),
      limit: BudgetLimitSchema.optional(),
      thresholds: ThresholdsSchema.optional(),
      forecast_alert: z.boolean().optional(),
      actions: ActionsSchema.optional(),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? unchangeable(issue.keys) : undefined) },
  )
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
