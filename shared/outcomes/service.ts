import type { Db } from '../db/client.js';
import type { EnvelopeItem } from '../ingest/envelope.js';
import { ingestEvents } from '../ingest/pipeline.js';
import { parseDecimal, toDecimalString } from '../money/money.js';
import { type IngestResult, OutcomeEventSchema } from '../usage/schema.js';

export function createOutcomeService(db: Db, now: () => Date = () => new Date()) {
  return {
    /** Business-driver events (tickets resolved, revenue), stored exactly once like usage. */
    ingest(tenantId: string, items: EnvelopeItem[]): Promise<IngestResult> {
      return ingestEvents({
        db,
        tenantId,
        kind: 'outcome',
        items,
        now: now(),
        schema: OutcomeEventSchema,
        prepare(event) {
          // Kept as an exact decimal string: "129.00" revenue must not become a float.
          return {
            attributes: {
              name: event.name,
              value: toDecimalString(parseDecimal(event.value)),
              dims: event.dimensions,
            },
          };
        },
      });
    },
  };
}
export type OutcomeService = ReturnType<typeof createOutcomeService>;
