import { type CreateApiKey, type CreatedApiKey, SCOPES } from '../api-keys/schema.js';
import type { ApiKeyService } from '../api-keys/service.js';
import type { Db } from '../db/client.js';
import type { Page, PageRequest } from '../db/pagination.js';
import { NotFoundError } from '../errors/errors.js';
import { newId } from '../ids.js';
import { deleteTenant, getTenant, listTenants, putTenant } from './repository.js';
import type { CreateTenant, Tenant } from './schema.js';

export interface CreatedTenant extends Tenant {
  api_key: Pick<CreatedApiKey, 'id' | 'key' | 'scopes'>;
}

export function createTenantService(db: Db, apiKeys: ApiKeyService, now: () => Date = () => new Date()) {
  async function get(tenantId: string): Promise<Tenant> {
    const tenant = await getTenant(db, tenantId);
    if (!tenant) throw new NotFoundError(`No tenant ${tenantId}.`, 'TENANT_NOT_FOUND');
    return tenant;
  }

  return {
    /** Creates the tenant and its first key, which carries every scope. */
    async create(input: CreateTenant): Promise<CreatedTenant> {
      const createdAt = now();
      const tenant: Tenant = {
        id: newId('ten', createdAt.getTime()),
        name: input.name,
        created_at: createdAt.toISOString(),
      };
      await putTenant(db, tenant);
      let apiKey: CreatedApiKey;
      try {
        apiKey = await apiKeys.create(tenant.id, { name: 'initial key', scopes: [...SCOPES] });
      } catch (error) {
        // No transactions (dynalite has none): undo the tenant so a retry starts clean.
        await deleteTenant(db, tenant.id);
        throw error;
      }
      return { ...tenant, api_key: { id: apiKey.id, key: apiKey.key, scopes: apiKey.scopes } };
    },

    /**
     * The operator's recovery: a key for an existing tenant, as the tenant's own POST /v1/api-keys
     * would mint it, for a tenant that has no key left to do that with.
     */
    async issueApiKey(tenantId: string, input: CreateApiKey): Promise<CreatedApiKey> {
      await get(tenantId);
      return apiKeys.create(tenantId, input);
    },

    get,

    list(page: PageRequest): Promise<Page<Tenant>> {
      return listTenants(db, page);
    },
  };
}
export type TenantService = ReturnType<typeof createTenantService>;
