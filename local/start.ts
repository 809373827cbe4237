import { loadConfig } from '../shared/config/config.js';
import { createLogger } from '../shared/observability/logger.js';
import { startLocalTollgate } from './local-mode.js';

/** `npm start`: all of Tollgate in one process. */
const config = loadConfig();
const logger = createLogger(config.logLevel);
const tollgate = await startLocalTollgate(config, { logger });

const banner = [
  '',
  `  Tollgate is running (local mode, data in ${config.dataDir})`,
  `  API           ${tollgate.url}`,
  `  Docs          ${tollgate.url}/docs`,
  `  Dashboard     ${tollgate.url}/dashboard`,
  `  OpenAPI       ${tollgate.url}/openapi.json`,
  `  Operator key  ${tollgate.operatorKey}`,
  `  Schedules     ${tollgate.schedules.length ? tollgate.schedules.join(', ') : 'none registered'}`,
  `  DynamoDB      ${tollgate.dynamoEndpoint ?? 'AWS'} (table ${config.tableName})`,
  '',
  '  Create a tenant:',
  `    curl -s -X POST ${tollgate.url}/v1/tenants -H "authorization: Bearer ${tollgate.operatorKey}" \\`,
  `      -H "content-type: application/json" -d '{"name":"Acme"}'`,
  '',
];
process.stdout.write(`${banner.join('\n')}\n`);

let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, 'shutting down');
    tollgate.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
