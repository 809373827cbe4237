import pRetry, { AbortError } from 'p-retry';

/** How provider API calls behave: `config.providerHttp`, plus seams for tests. */
export interface ProviderHttpOptions {
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  /** A `Retry-After` longer than this is not waited for: the run fails and the next run resumes. */
  maxRetryAfterSeconds: number;
}

/**
 * A provider call that failed. The message, which the tenant reads as the sync's error, names the
 * call as the provider documents it ("OpenAI GET /v1/organization/costs") and the status: never the
 * configured base URL (an operator's proxy or an internal host), the query, a header or the
 * response body, which could echo a credential. `endpoint`, the configured URL without its query,
 * is for the operator's log.
 */
export class ProviderRequestError extends Error {
  override readonly name = 'ProviderRequestError';
  constructor(
    message: string,
    readonly detail: { status?: number; retryable: boolean; retryAfterMs?: number | undefined },
    readonly endpoint?: string,
  ) {
    super(message);
  }
}

const RETRYABLE_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504, 529]);

/** `Retry-After` as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function attempt(
  url: URL,
  label: string,
  headers: Record<string, string>,
  options: ProviderHttpOptions,
) {
  const endpoint = `${url.origin}${url.pathname}`;
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    throw new ProviderRequestError(
      timedOut
        ? `${label} did not answer within ${options.timeoutMs} ms`
        : `${label} could not be reached (${(error as Error).message})`,
      { retryable: true },
      endpoint,
    );
  }
  if (response.ok) {
    try {
      return (await response.json()) as unknown;
    } catch {
      throw new ProviderRequestError(
        `${label} answered ${response.status} with a body that is not JSON`,
        { status: response.status, retryable: true },
        endpoint,
      );
    }
  }
  // The body is read (to free the socket) but not kept: providers may echo request details.
  await response.arrayBuffer().catch(() => undefined);
  const retryable = RETRYABLE_STATUS.has(response.status);
  const hint =
    response.status === 401 || response.status === 403
      ? ': the provider refused the credentials (an organization admin key is needed)'
      : '';
  throw new ProviderRequestError(
    `${label} answered ${response.status}${hint}`,
    {
      status: response.status,
      retryable,
      retryAfterMs: retryable ? parseRetryAfter(response.headers.get('retry-after')) : undefined,
    },
    endpoint,
  );
}

/**
 * GETs a JSON document from a provider API: a timeout per attempt, and retries with exponential
 * backoff and jitter on timeouts, network errors, 429 and 5xx, waiting at least what the
 * provider's `Retry-After` asks for.
 */
export function getProviderJson(
  url: URL,
  /** The call as the provider documents it, for messages: "OpenAI GET /v1/organization/costs". */
  label: string,
  headers: Record<string, string>,
  options: ProviderHttpOptions,
): Promise<unknown> {
  return pRetry(
    async () => {
      try {
        return await attempt(url, label, headers, options);
      } catch (error) {
        if (error instanceof ProviderRequestError && !error.detail.retryable) throw new AbortError(error);
        if (
          error instanceof ProviderRequestError &&
          error.detail.retryAfterMs !== undefined &&
          error.detail.retryAfterMs > options.maxRetryAfterSeconds * 1000
        ) {
          throw new AbortError(
            new ProviderRequestError(
              `${error.message}, asking to wait ${Math.ceil(error.detail.retryAfterMs / 1000)} s: left for the next run`,
              error.detail,
              error.endpoint,
            ),
          );
        }
        throw error;
      }
    },
    {
      retries: options.maxRetries,
      minTimeout: options.retryBaseMs,
      maxTimeout: options.retryBaseMs * 32,
      factor: 2,
      randomize: true,
      // p-retry waits its own backoff after this; together they wait at least `Retry-After`.
      onFailedAttempt: async ({ error, retriesLeft, retryDelay }) => {
        if (retriesLeft === 0 || !(error instanceof ProviderRequestError)) return;
        const asked = error.detail.retryAfterMs;
        if (asked !== undefined && asked > retryDelay) await sleep(asked - retryDelay);
      },
    },
  );
}
