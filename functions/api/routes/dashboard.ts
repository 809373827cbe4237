import { Hono } from 'hono';
import { DASHBOARD_CSP, DASHBOARD_HTML, DASHBOARD_SCRIPT, DASHBOARD_SCRIPT_PATH } from '../dashboard/page.js';

/** `GET /dashboard`: the tenant's KPI page. Public like /docs: the data behind it needs a key. */
export const dashboardRoutes = new Hono()
  .get('/dashboard', (c) =>
    c.html(DASHBOARD_HTML, 200, {
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    }),
  )
  .get(DASHBOARD_SCRIPT_PATH, (c) =>
    c.body(DASHBOARD_SCRIPT, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    }),
  );
