import { z } from 'zod';

/**
 * Both providers page the same way: `{data, has_more, next_page}`, the next request passing
 * `page=<next_page>`. Pages are read to the end; a page that says "more" without a token, or
 * repeats the previous token, ends the walk instead of looping.
 */
export const PageEnvelopeSchema = z.object({
  data: z.array(z.unknown()),
  has_more: z.boolean().nullish(),
  next_page: z.string().nullish(),
});

const MAX_PAGES = 1000;

export async function readAllPages(
  fetchPage: (page: string | undefined) => Promise<unknown>,
  describe: string,
): Promise<unknown[]> {
  const items: unknown[] = [];
  let page: string | undefined;
  for (let count = 0; count < MAX_PAGES; count++) {
    const body = await fetchPage(page);
    const parsed = PageEnvelopeSchema.safeParse(body);
    if (!parsed.success) throw new Error(`${describe}: the response is not a page of buckets`);
    items.push(...parsed.data.data);
    const next = parsed.data.next_page ?? undefined;
    if (!parsed.data.has_more || next === undefined || next === page) return items;
    page = next;
  }
  throw new Error(`${describe}: more than ${MAX_PAGES} pages`);
}

/** Whole numbers that may arrive as JSON numbers or numeric strings; absent or null reads as 0. */
export const count = z
  .union([z.number(), z.string().regex(/^\d+$/)])
  .nullish()
  .transform((value) => (value === null || value === undefined ? 0 : Number(value)));

/** Dimension fields: null when not grouped by them, and sometimes null even when grouped. */
export const dimension = z
  .string()
  .nullish()
  .transform((value) => value ?? null);

/**
 * A cost row's currency, upper-cased; absent means USD. Tollgate keeps money in USD and has no
 * exchange rates, so a row billed in another currency is refused (the source is not stored and
 * the sync reports why) rather than summed as if it were dollars.
 */
export const usdCurrency = z
  .string()
  .nullish()
  .transform((value, context) => {
    const currency = (value ?? 'USD').trim().toUpperCase();
    if (currency !== 'USD') {
      context.addIssue({
        code: 'custom',
        message: `billed in ${currency.slice(0, 12)}: Tollgate reconciles bills in USD only`,
      });
      return z.NEVER;
    }
    return currency;
  });

/** Describes the first problem of a failed parse, with its path, for a run's `last_error`. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unreadable';
}
