import { loadOnce } from '../load-once.js';

/** Where the operator key in force comes from: fixed (env, local mode) or Secrets Manager (Lambda). */
export interface OperatorKeySource {
  /** The key in force; undefined refuses every operator request. */
  current(): Promise<string | undefined>;
}

/** The same rule as TOLLGATE_ADMIN_KEY: a short operator key is refused, not used. */
export const MIN_OPERATOR_KEY_LENGTH = 24;

export function fixedOperatorKey(key: string | undefined): OperatorKeySource {
  const value = Promise.resolve(key);
  return { current: () => value };
}

/**
 * A source built on first use, e.g. the Secrets Manager one (secrets-manager-operator-key.ts),
 * whose SDK client is then loaded by a dynamic import rather than with the rest of the bundle.
 */
export function deferredOperatorKey(load: () => Promise<OperatorKeySource>): OperatorKeySource {
  const source = loadOnce(load);
  return { current: async () => (await source()).current() };
}
