import { z } from '@hono/zod-openapi';
import { displayName } from '../display-text.js';

export const TenantSchema = z
  .object({
    id: z.string().openapi({ example: 'ten_01JDQ7Z5M2X9K3V4W6Y8A0B1C2' }),
    name: z.string(),
    created_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Tenant');
export type Tenant = z.infer<typeof TenantSchema>;

export const CreateTenantSchema = z
  .object({
    name: displayName(200).openapi({ example: 'Acme Support' }),
  })
  .strict()
  .openapi('CreateTenant');
export type CreateTenant = z.infer<typeof CreateTenantSchema>;
