import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';

/**
 * How every Lambda is bundled, in one place: the CDK construct (through infra/bundle-cli.ts), the
 * cold-start bench and the bundle-size test all call bundleFunction, so what they measure is what
 * deploys.
 */
export const LAMBDA_BUNDLE = {
  /** Lambda runs Node 22; esbuild may keep any syntax Node 22 understands. */
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: true,
  // Stack traces map to file:line without the sources themselves: a package a few MB smaller.
  sourcesContent: false,
  // The ES module builds of dependencies (the AWS SDK ships both): esbuild can drop what is not
  // imported, and an ES module initialises faster than the CommonJS wrappers around it.
  mainFields: ['module', 'main'],
  // ESM bundles need a require() for the CommonJS dependencies they inline.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  // Local-mode-only packages never reach Lambda. The AWS SDK is bundled, not taken from the
  // runtime, so Lambda runs the versions the tests ran.
  external: ['dynalite', '@scalar/api-reference'],
} as const;

/**
 * The NODE_OPTIONS every function runs with (the construct sets it when not empty, the bench runs
 * the bundle with it). None: `--enable-source-maps` would parse every source map at each cold start
 * (about 30 ms for the API, `npm run bench:cold-start -- --node-options=--enable-source-maps`); the
 * logger maps the stack traces of logged errors instead, reading a map only then
 * (shared/observability/source-mapped-stack.ts).
 */
export const LAMBDA_NODE_OPTIONS: string = '';

/** The entry file of a bundle: Lambda's handler is `index.handler`. */
export const BUNDLE_FILE = 'index.mjs';
/** Code loaded on first use (dynamic imports: the optional AWS clients…) lives here, beside the entry. */
export const CHUNKS_DIR = 'chunks';

/** The most we accept for all the API bundle's code (entry and chunks): past this, cold starts grow. */
export const MAX_API_BUNDLE_BYTES = 1_500_000;

/**
 * zod's `z.locales` (and `core.locales`) re-export the messages of every language, ~250 KB
 * minified that esbuild cannot drop through `export * as`. Tollgate answers in English only (zod
 * configures `en` itself), so inside zod the locales index resolves to English alone.
 */
export function zodEnglishOnly(): Plugin {
  return {
    name: 'zod-english-only',
    setup(build) {
      build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
        /[/\\]node_modules[/\\]zod[/\\]/.test(args.importer)
          ? { path: join(dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'zod-english-only' }
          : undefined,
      );
      build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
        contents: `export { default as en } from ${JSON.stringify(join(dirname(args.path), 'en.js'))};`,
        resolveDir: dirname(args.path),
      }));
    },
  };
}

/** The esbuild options of one function: an ES module entry, its lazily loaded code split into chunks. */
export function esbuildOptions(entry: string, outdir: string): BuildOptions {
  return {
    entryPoints: { [basename(BUNDLE_FILE, '.mjs')]: entry },
    outdir,
    bundle: true,
    // A dynamic import() becomes a chunk loaded when it runs, not at cold start.
    splitting: true,
    chunkNames: `${CHUNKS_DIR}/[name]-[hash]`,
    outExtension: { '.js': '.mjs' },
    platform: 'node',
    target: LAMBDA_BUNDLE.target,
    format: LAMBDA_BUNDLE.format,
    minify: LAMBDA_BUNDLE.minify,
    sourcemap: LAMBDA_BUNDLE.sourcemap,
    sourcesContent: LAMBDA_BUNDLE.sourcesContent,
    mainFields: [...LAMBDA_BUNDLE.mainFields],
    banner: { js: LAMBDA_BUNDLE.banner },
    external: [...LAMBDA_BUNDLE.external],
    plugins: [zodEnglishOnly()],
    metafile: true,
    logLevel: 'silent',
  };
}

export interface BundleFile {
  /** Relative to the bundle's directory (`index.mjs`, `chunks/…`). */
  path: string;
  bytes: number;
  /** Loaded at cold start: the entry and every chunk it imports statically, directly or not. */
  atInit: boolean;
  /** Bytes in this file per package (or `shared`, `functions`). */
  packages: Map<string, number>;
  /** The source files with code in this file, as esbuild names them. */
  inputs: string[];
}

export interface BundleResult {
  outdir: string;
  /** The entry, absolute. */
  file: string;
  /** The JavaScript files (source maps left out), entry first. */
  files: BundleFile[];
  /** All JavaScript: what the size limit is about. */
  totalBytes: number;
  /** The JavaScript Node compiles at cold start. */
  initBytes: number;
  /** Bytes loaded at init per package, largest first. */
  initContributors: [string, number][];
}

/**
 * Bundles one entry into `outdir` (emptied first: chunk names change with their content) exactly as
 * the stack deploys it: `index.mjs`, its source map, and `chunks/`.
 */
export async function bundleFunction(entry: string, outdir: string): Promise<BundleResult> {
  const { build } = await import('esbuild');
  await mkdir(outdir, { recursive: true });
  for (const name of await readdir(outdir)) await rm(join(outdir, name), { recursive: true, force: true });
  const { metafile } = await build(esbuildOptions(entry, outdir));
  if (!metafile) throw new Error('esbuild returned no metafile');
  return describeBundle(metafile, outdir);
}

function describeBundle(metafile: Metafile, outdir: string): BundleResult {
  // esbuild names outputs relative to the working directory; the bundle's own paths are shorter.
  const cwd = process.cwd();
  const own = (output: string) => relative(outdir, join(cwd, output));
  const scripts = Object.entries(metafile.outputs).filter(([output]) => output.endsWith('.mjs'));
  const entry = scripts.find(([output]) => own(output) === BUNDLE_FILE);
  if (!entry) throw new Error(`esbuild wrote no ${BUNDLE_FILE}`);

  const atInit = new Set<string>();
  const visit = (output: string) => {
    if (atInit.has(output)) return;
    atInit.add(output);
    for (const imported of metafile.outputs[output]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    }
  };
  visit(entry[0]);

  const files = scripts
    .map(([output, { bytes, inputs }]) => ({
      path: own(output),
      bytes,
      atInit: atInit.has(output),
      packages: byPackage(inputs),
      inputs: Object.keys(inputs),
    }))
    .sort((a, b) => Number(b.path === BUNDLE_FILE) - Number(a.path === BUNDLE_FILE) || b.bytes - a.bytes);
  const initContributors = new Map<string, number>();
  for (const file of files.filter((f) => f.atInit)) {
    for (const [name, bytes] of file.packages)
      initContributors.set(name, (initContributors.get(name) ?? 0) + bytes);
  }
  return {
    outdir,
    file: join(outdir, BUNDLE_FILE),
    files,
    totalBytes: files.reduce((sum, f) => sum + f.bytes, 0),
    initBytes: files.filter((f) => f.atInit).reduce((sum, f) => sum + f.bytes, 0),
    initContributors: [...initContributors].sort((a, b) => b[1] - a[1]),
  };
}

function byPackage(inputs: Metafile['outputs'][string]['inputs']): Map<string, number> {
  const packages = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
    const name =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ??
      (input.startsWith('zod-english-only:') ? 'zod' : (input.split('/')[0] ?? input));
    packages.set(name, (packages.get(name) ?? 0) + bytesInOutput);
  }
  return packages;
}
