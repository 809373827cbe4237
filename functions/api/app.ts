import { IncomingMessage } from 'node:http';
import { Scalar } from '@scalar/hono-api-reference';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { PayloadTooLargeError } from '../../shared/errors/errors.js';
import { assertReadableCodings, contentCodings } from '../../shared/http/content-encoding.js';
import type { Runtime } from '../../shared/runtime.js';
import { authenticate } from './middleware/authenticate.js';
import { methodsByPath, renderError, renderMethodNotAllowed, renderNotFound } from './middleware/errors.js';
import { requestContext } from './middleware/request-context.js';
import { createRouter } from './openapi.js';
import { adminJobRoutes } from './routes/admin-jobs.js';
import { adminPriceRoutes, PRICE_FILE_PATH } from './routes/admin-prices.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { billingRoutes } from './routes/billing.js';
import { budgetRoutes } from './routes/budgets.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { enforcementRoutes } from './routes/enforcement.js';
import { createExportRoutes } from './routes/exports.js';
import { healthRoutes } from './routes/health.js';
import { GZIP_BODY_PATHS, ingestRoutes } from './routes/ingest.js';
import { kpiRoutes } from './routes/kpis.js';
import { priceRoutes } from './routes/prices.js';
import { providerConnectionRoutes } from './routes/provider-connections.js';
import { tenantRoutes } from './routes/tenants.js';
import { webhookRoutes } from './routes/webhooks.js';

export interface AppOptions {
  /**
   * Where /docs loads the API reference's script from. Locally the runner serves a copy from
   * node_modules (no internet needed); on Lambda the reference's CDN is used.
   */
  docsScriptUrl?: string;
  /**
   * The largest response payload the adapter carries, where it buffers whole responses (Lambda
   * behind API Gateway: 6 MB). Unset where responses stream (the node server).
   */
  responsePayloadLimitBytes?: number;
}

export const API_VERSION = '1.0.0';

/** The node adapter (@hono/node-server) passes the socket's IncomingMessage as the env. */
const isNodeRequest = (env: unknown) =>
  typeof env === 'object' && env !== null && 'incoming' in env && env.incoming instanceof IncomingMessage;

const PRICE_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** The Hono app: the same object serves Lambda (`handle(app)`) and the local runner. */
export function createApp(runtime: Runtime, options: AppOptions = {}) {
  const app = createRouter();
  app.use('*', requestContext(runtime));
  app.use('/v1/*', authenticate());
  const limitBody = (maxSize: number): MiddlewareHandler => {
    const tooLarge = () => {
      throw new PayloadTooLargeError(`The body is larger than ${maxSize} bytes.`);
    };
    // Counts a chunked body as it streams in.
    const streamed = bodyLimit({ maxSize, onError: tooLarge });
    return (c, next) => {
      // A body framed by its Content-Length is judged by the header, and so is a request with
      // neither header where HTTP/1.1 framing applies (the node server: no body, RFC 9112 §6.3).
      // That keeps the body unread here: hono's bodyLimit opens it as a web stream, and the node
      // adapter then reads every JSON body through that stream instead of straight off the socket
      // (about half a millisecond of CPU per request, measured with bench:enforce). A chunked
      // body, or one from Lambda without the header, is counted as it streams in.
      if (c.req.header('transfer-encoding') === undefined) {
        const length = c.req.header('content-length');
        if (length !== undefined) return Number(length) > maxSize ? tooLarge() : next();
        if (c.req.method === 'GET' || c.req.method === 'HEAD' || isNodeRequest(c.env)) return next();
      }
      return streamed(c, next);
    };
  };
  const requestBodyLimit = limitBody(runtime.config.maxBodyBytes);
  // A whole public price table is larger than any API request; only the operator loads one.
  const priceFileLimit = limitBody(PRICE_FILE_MAX_BYTES);
  app.use('/v1/*', (c, next) =>
    (c.req.path === PRICE_FILE_PATH ? priceFileLimit : requestBodyLimit)(c, next),
  );

  // An encoded body anywhere else would be read as broken JSON: it is refused by name instead.
  app.use('/v1/*', (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD')
      assertReadableCodings(
        contentCodings(c.req.header('content-encoding')),
        GZIP_BODY_PATHS.has(c.req.path),
      );
    return next();
  });

  app.route('/', healthRoutes);
  app.route('/', tenantRoutes);
  app.route('/', apiKeyRoutes);
  app.route('/', adminJobRoutes);
  app.route('/', adminPriceRoutes);
  app.route('/', ingestRoutes);
  app.route('/', priceRoutes);
  app.route('/', kpiRoutes);
  app.route('/', createExportRoutes({ responsePayloadLimitBytes: options.responsePayloadLimitBytes }));
  app.route('/', budgetRoutes);
  app.route('/', enforcementRoutes);
  app.route('/', webhookRoutes);
  app.route('/', dashboardRoutes);
  app.route('/', providerConnectionRoutes);
  app.route('/', billingRoutes);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A tenant API key (`tg_…`) or, for /v1/tenants and /v1/admin, the operator key.',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate API',
      version: API_VERSION,
      description: 'Token-native FinOps for AI: usage metering, exact pricing, KPIs and budget guardrails.',
    },
  });
  app.get(
    '/docs',
    Scalar({
      url: '/openapi.json',
      pageTitle: 'Tollgate API reference',
      withDefaultFonts: false,
      showDeveloperTools: 'never',
      ...(options.docsScriptUrl ? { cdn: options.docsScriptUrl } : {}),
    }),
  );

  app.onError(renderError);
  const allowedMethods = methodsByPath(app.routes);
  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    return allowed.length > 0 ? renderMethodNotAllowed(c, allowed) : renderNotFound(c);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
