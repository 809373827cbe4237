/**
 * Key builders, one per entity: the only place that knows how keys are spelled. Every partition
 * key starts with the tenant; segments are prefixed and versioned so the layout can evolve.
 */
const V = 'v1';

export const tenantPartition = (tenantId: string) => `${V}#tenant#${tenantId}`;

export const keys = {
  tenant: (tenantId: string) => ({ pk: tenantPartition(tenantId), sk: `${V}#profile` }),
  /** The operator's list of tenants, on gsi1. */
  tenantListing: (tenantId: string) => ({ gsi1pk: `${V}#operator#tenants`, gsi1sk: tenantId }),
  tenantListingPartition: () => `${V}#operator#tenants`,
  apiKey: (tenantId: string, keyId: string) => ({
    pk: tenantPartition(tenantId),
    sk: `${V}#api-key#${keyId}`,
  }),
  apiKeyPrefix: () => `${V}#api-key#`,
};
