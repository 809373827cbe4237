import { describe, expect, it } from 'vitest';
import { NotFoundError, RateLimitedError, ValidationError } from '../../../shared/errors/errors.js';
import { toProblem } from '../../../shared/errors/problem.js';

describe('toProblem', () => {
  it('renders a domain error with its stable code and the request id', () => {
    expect(toProblem(new NotFoundError('No tenant ten_x.', 'TENANT_NOT_FOUND'), 'req_1')).toEqual({
      type: 'https://tollgate.dev/problems/tenant-not-found',
      title: 'Not found',
      status: 404,
      detail: 'No tenant ten_x.',
      code: 'TENANT_NOT_FOUND',
      request_id: 'req_1',
    });
  });

  it('carries field errors for validation failures', () => {
    const problem = toProblem(new ValidationError('bad', [{ path: 'name', message: 'required' }]), 'req_2');
    expect(problem).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'name', message: 'required' }],
    });
  });

  it('keeps a rate limit a 429', () => {
    expect(toProblem(new RateLimitedError(3), 'req_3')).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  });

  it('never echoes an unexpected error', () => {
    const problem = toProblem(new Error('connect ECONNREFUSED 10.0.0.7:8000 secret=hunter2'), 'req_4');
    expect(problem).toMatchObject({ status: 500, code: 'INTERNAL', request_id: 'req_4' });
    expect(JSON.stringify(problem)).not.toMatch(/ECONNREFUSED|hunter2|10\.0\.0\.7/);
  });
});
