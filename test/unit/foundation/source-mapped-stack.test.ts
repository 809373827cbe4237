import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esbuildOptions } from '../../../infra/bundling.js';
import { mapStackTrace } from '../../../shared/observability/source-mapped-stack.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
let outdir: string;

beforeAll(async () => {
  // Bundled as the Lambdas are (minified ESM, a map beside each file, no sources inside).
  outdir = await mkdtemp(join(tmpdir(), 'tollgate-stack-'));
  await build(esbuildOptions(join(ROOT, 'test', 'fixtures', 'stack', 'log-error.ts'), outdir));
});
afterAll(() => rm(outdir, { recursive: true, force: true }));

describe('source-mapped stack traces', () => {
  it('logs the TypeScript line that threw, from a minified bundle run without --enable-source-maps', async () => {
    // Plain node, as on Lambda: vitest and tsx map traces of their own, which would hide ours.
    const { stdout } = await promisify(execFile)(process.execPath, [join(outdir, 'index.mjs')], {
      env: { PATH: process.env.PATH ?? '' },
    });
    const { raw, logged } = JSON.parse(stdout) as {
      raw: string;
      logged: { err: { message: string; stack: string } };
    };
    // Unmapped, the frame points into the minified bundle…
    expect(raw).toMatch(/index\.mjs:\d+:\d+/);
    expect(raw).not.toContain('throws.ts');
    // …and the logged trace names the source line.
    expect(logged.err.message).toBe('failed on purpose');
    expect(logged.err.stack).toContain('test/fixtures/stack/throws.ts:3:');
    expect(logged.err.stack).not.toMatch(/index\.mjs:\d+:\d+/);
  });

  it('leaves frames without a map as they are', () => {
    const stack = 'Error: x\n    at f (file:///nowhere/else.mjs:1:10)\n    at g (node:internal/x:5:3)';
    expect(mapStackTrace(stack)).toBe(stack);
  });
});
