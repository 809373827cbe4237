import type { Principal } from '../../shared/api-keys/service.js';
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
  };
}
