import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

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

const ULID = '[0-9A-HJKMNP-TV-Z]{26}';

export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_${ULID}$`);
}

export function isId(prefix: IdPrefix, value: string): boolean {
  return idPattern(prefix).test(value);
}
