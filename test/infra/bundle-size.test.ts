import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_FILE,
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

  const packagesOf = (files: BundleResult['files']) =>
    new Set(files.flatMap((file) => [...file.packages.keys()]));

  it(`stays under ${MAX_API_BUNDLE_BYTES / 1e6} MB, entry and chunks together`, () => {
    const onDisk = (readdirSync(outdir, { recursive: true }) as string[]).filter((path) =>
      path.endsWith('.mjs'),
    );
    expect(onDisk.sort()).toEqual(bundle.files.map((file) => file.path).sort());
    expect(onDisk.reduce((sum, path) => sum + statSync(join(outdir, path)).size, 0)).toBe(bundle.totalBytes);
    expect(bundle.files[0]?.path).toBe(BUNDLE_FILE);
    expect(bundle.totalBytes).toBeLessThan(MAX_API_BUNDLE_BYTES);
  });

  it('ships a source map beside every file', () => {
    for (const file of bundle.files)
      expect(statSync(join(outdir, `${file.path}.map`)).size).toBeGreaterThan(0);
  });

  it('leaves out the local-only packages and keeps the AWS SDK inside', () => {
    const packages = packagesOf(bundle.files);
    for (const localOnly of LAMBDA_BUNDLE.external) expect(packages).not.toContain(localOnly);
    expect(packagesOf(bundle.files.filter((file) => file.atInit))).toContain('@aws-sdk/client-dynamodb');
  });

  it('loads the optional AWS clients on first use, not at cold start', () => {
    const atInit = packagesOf(bundle.files.filter((file) => file.atInit));
    const onFirstUse = packagesOf(bundle.files.filter((file) => !file.atInit));
    for (const optional of [
      '@aws-sdk/client-kms',
      '@aws-sdk/client-sqs',
      '@aws-sdk/client-eventbridge',
      '@aws-sdk/client-secrets-manager',
    ]) {
      expect(atInit).not.toContain(optional);
      expect(onFirstUse).toContain(optional);
    }
  });

  it('loads every chunk in a fresh node process (what a first use does on Lambda)', () => {
    const chunks = bundle.files
      .filter((file) => file.path !== BUNDLE_FILE)
      .map((file) => join(outdir, file.path));
    expect(chunks.length).toBeGreaterThan(0);
    const script = `await Promise.all(${JSON.stringify(chunks.map((path) => pathToFileURL(path).href))}.map((url) => import(url)));`;
    expect(() =>
      execFileSync(process.execPath, ['--input-type=module', '--eval', script], {
        stdio: 'pipe',
        timeout: 30_000,
      }),
    ).not.toThrow();
  });

  it("keeps zod's English messages only", () => {
    const locales = bundle.files
      .flatMap((file) => file.inputs)
      .filter((input) => /^[^:]*node_modules\/zod\/v4\/locales\//.test(input));
    expect(locales.map((input) => input.replace(/.*\/locales\//, ''))).toEqual(['en.js']);
  });
});
