/**
 * `tsx infra/bundle-cli.ts <entry> <outdir>`: bundles one function with infra/bundling.ts. CDK's
 * local bundling is synchronous, so infra/tollgate-function.ts runs this in a child process; it
 * exits non-zero with esbuild's messages when the build fails.
 */
import { resolve } from 'node:path';
import { bundleFunction } from './bundling.js';

const [entry, outdir] = process.argv.slice(2);
if (!entry || !outdir) {
  console.error('usage: tsx infra/bundle-cli.ts <entry> <outdir>');
  process.exit(2);
}
try {
  const bundle = await bundleFunction(resolve(entry), resolve(outdir));
  console.error(
    `bundled ${entry}: ${bundle.files.length} files, ${bundle.totalBytes} bytes (${bundle.initBytes} loaded at init)`,
  );
} catch (error) {
  // esbuild's BuildFailure carries every message with file:line; its own message only the count.
  const messages = (
    error as { errors?: { text: string; location?: { file: string; line: number } | null }[] }
  ).errors;
  for (const message of messages ?? []) {
    const where = message.location ? `${message.location.file}:${message.location.line}: ` : '';
    console.error(`${where}${message.text}`);
  }
  if (!messages?.length) console.error(error);
  process.exit(1);
}
