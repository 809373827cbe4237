import type { BuildOptions } from 'esbuild';

/**
 * How every Lambda is bundled, in one place: the CDK construct passes these to NodejsFunction,
 * and the cold-start bench and the bundle-size test run esbuild with the very same options, so
 * what they measure is what deploys.
 */
export const LAMBDA_BUNDLE = {
  /** Lambda runs Node 22; esbuild may keep any syntax Node 22 understands. */
  target: 'node22',
  format: 'esm',
  minify: true,
  sourceMap: true,
  // Stack traces map to file:line without the sources themselves: a package a few MB smaller.
  sourcesContent: false,
  // ESM bundles need a require() for the CommonJS dependencies they inline.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  // Local-mode-only packages never reach Lambda. The AWS SDK is bundled, not taken from the
  // runtime, so Lambda runs the versions the tests ran.
  externalModules: ['dynalite', '@scalar/api-reference'],
} as const;

/** The file name NodejsFunction gives an ESM bundle. */
export const BUNDLE_FILE = 'index.mjs';

/** The largest API bundle we accept: past this, cold starts grow (and the infra test fails). */
export const MAX_API_BUNDLE_BYTES = 1_500_000;

/** The esbuild options NodejsFunction derives from LAMBDA_BUNDLE (see its buildEsbuildArgs). */
export function esbuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: LAMBDA_BUNDLE.target,
    format: LAMBDA_BUNDLE.format,
    minify: LAMBDA_BUNDLE.minify,
    sourcemap: LAMBDA_BUNDLE.sourceMap,
    sourcesContent: LAMBDA_BUNDLE.sourcesContent,
    banner: { js: LAMBDA_BUNDLE.banner },
    external: [...LAMBDA_BUNDLE.externalModules],
    logLevel: 'silent',
  };
}
