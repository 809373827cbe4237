import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTollgate, type TestTollgate } from '../helpers/tollgate.js';

describe('the served API description', () => {
  let tollgate: TestTollgate;
  beforeAll(async () => {
    tollgate = await createTestTollgate();
  });
  afterAll(() => tollgate.cleanup());

  it('is a valid OpenAPI 3.1 document that describes the contract', async () => {
    const response = await tollgate.request('GET', '/openapi.json');
    expect(response.status).toBe(200);
    const document = await response.json();
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/healthz',
        '/v1/tenants',
        '/v1/tenants/{id}',
        '/v1/api-keys',
        '/v1/api-keys/{id}',
        '/v1/admin/jobs/{job}/run',
      ]),
    );
    expect(document.components.schemas.Problem.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code', 'request_id']),
    );
    expect(document.paths['/v1/api-keys'].post.security).toEqual([{ bearer: [] }]);
  });

  it('serves the interactive reference at /docs', async () => {
    const response = await tollgate.request('GET', '/docs');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    const html = await response.text();
    expect(html).toContain('/openapi.json');
    expect(html).toContain('Tollgate API reference');
  });
});
