import { z } from '@hono/zod-openapi';

/** A name Tollgate groups and filters by: a dimension key, an outcome name. */
export const NameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_.-]*$/, 'lowercase letters, digits, "_", "-" or "."; starting with a letter');

export const MAX_DIMENSIONS = 20;

/** Dimension pairs an event carries, or a key restricts to. */
export const dimensionsSchema = (minimum: number) =>
  z
    .record(NameSchema, z.string().min(1).max(256))
    .refine((value) => Object.keys(value).length >= minimum && Object.keys(value).length <= MAX_DIMENSIONS, {
      message: `between ${minimum} and ${MAX_DIMENSIONS} dimension pairs`,
    });
