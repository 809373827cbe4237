import { createHash, randomFillSync } from 'node:crypto';
import { encodeTime, monotonicFactory } from 'ulid';

/**
 * Cryptographic randomness drawn 4 KB at a time: ulid's own generator asks the OS for one byte
 * per character (16 calls per id), a measurable cost on the enforcement path.
 */
const randomPool = Buffer.alloc(4096);
let poolOffset = randomPool.length;
function pooledRandom(): number {
  if (poolOffset >= randomPool.length) {
    randomFillSync(randomPool);
    poolOffset = 0;
  }
  // A byte over 256 is uniform over ulid's 32 characters (256 = 8 × 32).
  return (randomPool[poolOffset++] as number) / 256;
}

const nextUlid = monotonicFactory(pooledRandom);

/** The prefixes of Tollgate's public ids (API.md): typed, and time-sortable through the ULID. */
export type IdPrefix =
  | 'ten'
  | 'key'
  | 'req'
  | 'bud'
  | 'whe'
  | 'del'
  | 'pcn'
  | 'evt'
  | 'rsv'
  | 'anm'
  | 'run'
  | 'prl';

export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${nextUlid(now)}`;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * An id that is the same every time for the same `seed` (and time): its random part is drawn from
 * the seed's hash. For objects that must exist once per cause, such as one webhook delivery per
 * event and endpoint, so that writing it again is a conditional-write conflict, not a twin.
 */
export function seededId(prefix: IdPrefix, time: number, seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[(digest[i] ?? 0) & 31];
  return `${prefix}_${encodeTime(time, 10)}${random}`;
}

/**
 * An id drawn wholly from `seed`'s hash, the same whenever it is asked for: the object of an
 * idempotency key (a reservation per authorization id), found again by a retry without a lookup.
 */
export function hashedId(prefix: IdPrefix, seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  let id = '';
  for (let i = 0; i < 26; i++) id += CROCKFORD[(digest[i] ?? 0) & 31];
  return `${prefix}_${id}`;
}

const ULID = '[0-9A-HJKMNP-TV-Z]{26}';

export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_${ULID}$`);
}

export function isId(prefix: IdPrefix, value: string): boolean {
  return idPattern(prefix).test(value);
}
