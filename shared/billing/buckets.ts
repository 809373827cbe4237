import type { z } from 'zod';
import { parseDecimal, toDecimalString } from '../money/money.js';
import type { BilledLine, DayLines, LineSource } from './lines.js';
import { firstIssue } from './paging.js';

/**
 * Groups buckets by day (a day split over two buckets is one day) and parses their rows. A bucket
 * served twice (the same start on two pages: a list that shifted between page reads) is one
 * bucket, its later copy kept: adding both would count its day twice.
 */
export function toDayLines<T>(
  source: LineSource,
  buckets: { start: number; day: string; results: unknown[] }[],
  schema: z.ZodType<T>,
  toLine: (row: T, day: string) => BilledLine,
): DayLines[] {
  const byStart = new Map<number, (typeof buckets)[number]>();
  for (const bucket of buckets) {
    byStart.delete(bucket.start);
    byStart.set(bucket.start, bucket);
  }
  const byDay = new Map<string, BilledLine[]>();
  for (const bucket of byStart.values()) {
    const lines = byDay.get(bucket.day) ?? [];
    bucket.results.forEach((row, index) => {
      const parsed = schema.safeParse(row);
      if (!parsed.success)
        throw new Error(`${source}: ${bucket.day} row ${index}: ${firstIssue(parsed.error)}`);
      lines.push(toLine(parsed.data, bucket.day));
    });
    byDay.set(bucket.day, lines);
  }
  return [...byDay].map(([day, lines]) => ({ source, day, lines: mergeSameIdentity(lines) }));
}

/** Rows that share an identity (a day split over buckets) are one line: their figures add up. */
function mergeSameIdentity(lines: BilledLine[]): BilledLine[] {
  const merged = new Map<string, BilledLine>();
  for (const line of lines) {
    const existing = merged.get(line.identity);
    if (!existing) {
      merged.set(line.identity, line);
    } else if (existing.kind === 'cost' && line.kind === 'cost') {
      existing.amount = existing.amount.plus(line.amount);
      existing.quantity =
        existing.quantity !== null && line.quantity !== null
          ? toDecimalString(parseDecimal(existing.quantity).plus(parseDecimal(line.quantity)))
          : (existing.quantity ?? line.quantity);
    } else if (existing.kind === 'usage' && line.kind === 'usage') {
      for (const type of Object.keys(existing.tokens) as (keyof typeof existing.tokens)[])
        existing.tokens[type] += line.tokens[type];
      existing.requests += line.requests;
    }
  }
  return [...merged.values()];
}
