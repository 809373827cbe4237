import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mintOperatorKey } from '../shared/api-keys/secrets.js';

/**
 * The configured operator key, or the one generated on first start and kept in the data dir
 * (readable by its owner only), so a restart keeps it.
 */
export async function resolveOperatorKey(configured: string | undefined, dataDir: string): Promise<string> {
  if (configured) return configured;
  const file = join(dataDir, 'operator-key');
  try {
    const stored = (await readFile(file, 'utf8')).trim();
    if (stored) return stored;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = mintOperatorKey();
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}
