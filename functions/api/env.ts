import type { Principal } from '../../shared/api-keys/service.js';
import type { RunSeed } from '../../shared/idempotency/idempotency.js';
import type { Logger } from '../../shared/observability/logger.js';
import type { Runtime } from '../../shared/runtime.js';

/** What every request's context carries, set by the app's middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    runtime: Runtime;
    logger: Logger;
    /** Set by the authentication middleware on every `/v1` request. */
    principal: Principal;
    /**
     * Set by the Idempotency-Key middleware when a request with a key runs: the same for every
     * run of that request, for the ids of what it creates.
     */
    idempotentRun?: RunSeed;
  };
}
