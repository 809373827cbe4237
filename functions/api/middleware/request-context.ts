import { createMiddleware } from 'hono/factory';
import { newId } from '../../../shared/ids.js';
import type { Runtime } from '../../../shared/runtime.js';
import type { AppEnv } from '../env.js';

// A caller's own id is kept when it is safe to log and echo; otherwise Tollgate makes one.
const CALLER_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request id, the runtime, a request logger, one access-log line per request, and a
 * `Server-Timing: app;dur=…` header: the time Tollgate spent on the request (to its response's
 * headers), so a caller can tell it from the network's.
 */
export function requestContext(runtime: Runtime) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && CALLER_REQUEST_ID.test(incoming) ? incoming : newId('req');
    c.set('requestId', requestId);
    c.set('runtime', runtime);
    c.set('logger', runtime.logger.child({ request_id: requestId }));
    await next();
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    c.res.headers.set('x-request-id', requestId);
    c.res.headers.append('server-timing', `app;dur=${durationMs}`);
    c.var.logger.info(
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        duration_ms: durationMs,
      },
      'request',
    );
  });
}
