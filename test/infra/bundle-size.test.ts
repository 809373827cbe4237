import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BundleResult,
  bundleFunction,
  LAMBDA_BUNDLE,
  MAX_API_BUNDLE_BYTES,
} from '../../infra/bundling.js';
import { ROOT } from '../../infra/tollgate-stack.js';

/**
 * The API bundle's size is deterministic, so it is asserted here; its cold-start time is not,
 * so `npm run bench:cold-start` measures it. Same options as the stack (infra/bundling.ts).
 */
describe('the API Lambda bundle', () => {
  let outdir: string;
  let bundle: BundleResult;
  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), 'tollgate-bundle-'));
    bundle = await bundleFunction(join(ROOT, 'functions', 'api', 'handler.ts'), outdir);
  }, 120_000);
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it(`stays under ${MAX_API_BUNDLE_BYTES / 1e6} MB`, () => {
    expect(statSync(bundle.file).size).toBe(bundle.bytes);
    expect(bundle.bytes).toBeLessThan(MAX_API_BUNDLE_BYTES);
  });

  it('leaves out the local-only packages and keeps the AWS SDK inside', () => {
    const packages = bundle.contributors.map(([name]) => name);
    for (const localOnly of LAMBDA_BUNDLE.externalModules) expect(packages).not.toContain(localOnly);
    expect(packages).toContain('@aws-sdk/client-dynamodb');
    expect(packages).toContain('@aws-sdk/client-secrets-manager');
  });
});
