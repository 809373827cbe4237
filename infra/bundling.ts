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
  // The ES module builds of dependencies (the AWS SDK ships both): esbuild can drop what is not
  // imported, and an ES module initialises faster than the CommonJS wrappers around it.
  mainFields: ['module', 'main'],
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
    mainFields: [...LAMBDA_BUNDLE.mainFields],
    banner: { js: LAMBDA_BUNDLE.banner },
    external: [...LAMBDA_BUNDLE.externalModules],
    logLevel: 'silent',
  };
}

export interface BundleResult {
  file: string;
  bytes: number;
  /** Bytes in the bundle per package (or `shared`, `functions`), largest first. */
  contributors: [string, number][];
}

/** Bundles one entry exactly as the stack does (bench, bundle-size test). */
export async function bundleFunction(entry: string, outdir: string): Promise<BundleResult> {
  const { build } = await import('esbuild');
  const file = `${outdir}/${BUNDLE_FILE}`;
  const result = await build({ ...esbuildOptions(entry, file), metafile: true });
  const output =
    result.metafile.outputs[Object.keys(result.metafile.outputs).find((o) => o.endsWith(BUNDLE_FILE)) ?? ''];
  if (!output) throw new Error(`esbuild wrote no ${BUNDLE_FILE}`);
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.split('/')[0] ?? input;
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  return {
    file,
    bytes: output.bytes,
    contributors: [...byPackage].sort((a, b) => b[1] - a[1]),
  };
}
