import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failFirstWrite } from '../helpers/lost-answer.js';
import { createTestTollgate, type TestTollgate } from '../helpers/tollgate.js';

let tollgate: TestTollgate;
beforeAll(async () => {
  tollgate = await createTestTollgate();
});
afterAll(() => tollgate.cleanup());

const connect = (key: string, body: Record<string, unknown>) =>
  tollgate.request('POST', '/v1/provider-connections', { key, body });

describe('one connection per provider key', () => {
  it('refuses the same key connected twice (409, naming the connection), and takes it again once deleted', async () => {
    const tenant = await tollgate.createTenant('Same org twice');
    const body = { provider: 'openai', api_key: 'sk-admin-same-org-0123456789', name: 'prod org' };
    const first = await connect(tenant.key, body);
    expect(first.status).toBe(201);
    const { id } = await first.json();

    const again = await connect(tenant.key, { ...body, name: 'prod org, again' });
    expect(again.status).toBe(409);
    const problem = await again.json();
    expect(problem).toMatchObject({ code: 'PROVIDER_KEY_CONNECTED' });
    expect(problem.detail).toContain(id);
    const listed = await (
      await tollgate.request('GET', '/v1/provider-connections', { key: tenant.key })
    ).json();
    expect(listed.data.map((connection: { id: string }) => connection.id)).toEqual([id]);

    // Another key of the same provider, the same key for another provider, another tenant: each its own.
    expect((await connect(tenant.key, { ...body, api_key: 'sk-admin-other-org-0123456789' })).status).toBe(
      201,
    );
    expect((await connect(tenant.key, { ...body, provider: 'anthropic' })).status).toBe(201);
    const other = await tollgate.createTenant('Other tenant, same key');
    expect((await connect(other.key, body)).status).toBe(201);

    // Disconnected, the key can be connected again.
    expect(
      (await tollgate.request('DELETE', `/v1/provider-connections/${id}`, { key: tenant.key })).status,
    ).toBe(204);
    expect((await connect(tenant.key, body)).status).toBe(201);
  });

  it('lets a key whose create stopped before storing its connection be connected, once that create is surely over', async () => {
    let clock = new Date();
    const clocked = await createTestTollgate({ store: tollgate.store, now: () => clock });
    try {
      const tenant = await clocked.createTenant('Stopped create');
      const body = { provider: 'openai', api_key: 'sk-admin-stopped-0123456789' };
      const post = () => clocked.request('POST', '/v1/provider-connections', { key: tenant.key, body });
      // The key is claimed, then the connection's write fails: the create stops there.
      const stops = failFirstWrite(
        clocked.store.db,
        (write) =>
          write.commandName === 'PutItemCommand' &&
          (write.Item?.sk?.S ?? '').includes('#provider-connection#'),
      );
      let stopped: Response;
      try {
        stopped = await post();
      } finally {
        stops.restore();
      }
      expect(stops.failed()).toBe(1);
      expect(stopped.status).toBeGreaterThanOrEqual(500);
      // Within the time a create takes, the claim may be a create still under way: not taken.
      const waiting = await post();
      expect(waiting.status).toBe(409);
      expect((await waiting.json()).detail).toContain('being connected');
      clock = new Date(clock.getTime() + 61_000);
      expect((await post()).status).toBe(201);
      expect((await post()).status).toBe(409);
    } finally {
      await clocked.cleanup();
    }
  });

  it('admits one of many concurrent connections of one key', async () => {
    const tenant = await tollgate.createTenant('Racing connects');
    const body = { provider: 'anthropic', api_key: 'sk-ant-admin-racing-0123456789' };
    const statuses = await Promise.all(
      Array.from({ length: 8 }, async () => (await connect(tenant.key, body)).status),
    );
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(7);
    const listed = await (
      await tollgate.request('GET', '/v1/provider-connections', { key: tenant.key })
    ).json();
    expect(listed.data).toHaveLength(1);
  });
});
