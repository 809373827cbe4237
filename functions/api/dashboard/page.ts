/**
 * The tenant's dashboard: one static page and its script, reading the same public API an
 * integrator calls (`/v1/kpis/summary`, `/v1/kpis`, `/v1/anomalies`), so finance, product and
 * engineering see the numbers the API serves and nothing else. The page holds no data of its own:
 * the reader pastes a `read` key, kept in the tab's sessionStorage only. Every value is written
 * with textContent (never as HTML), and the CSP allows this origin's script only.
 */
export const DASHBOARD_SCRIPT_PATH = '/dashboard/app.js';

export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tollgate dashboard</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2430; background: #f6f7f9; }
  body { margin: 0; }
  header { background: #1d2430; color: #fff; padding: 12px 24px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0 auto 0 0; }
  header input, header select, header button { font: inherit; padding: 4px 8px; }
  main { padding: 16px 24px; display: grid; gap: 16px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; }
  .card, section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; }
  .card h2, section h2 { font-size: 13px; font-weight: 600; color: #5a6473; margin: 0 0 6px; text-transform: uppercase; letter-spacing: .04em; }
  .card .value { font-size: 24px; font-variant-numeric: tabular-nums; }
  .card .note { font-size: 12px; color: #5a6473; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid #e4e7eb; }
  th:first-child, td:first-child { text-align: left; }
  #status { min-height: 1.2em; color: #b42318; }
  svg { width: 100%; height: 180px; }
  .bar { fill: #3b6fd6; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>Tollgate</h1>
  <form id="connect">
    <label>API key <input id="key" type="password" autocomplete="off" placeholder="tg_… (read scope)" size="28"></label>
    <label>Time zone <input id="timezone" size="16"></label>
    <button type="submit">Show</button>
  </form>
</header>
<main>
  <div id="status" role="status"></div>
  <div id="content" hidden>
    <div class="cards">
      <div class="card"><h2>Month to date</h2><div class="value" id="mtd-cost"></div><div class="note" id="mtd-usage"></div></div>
      <div class="card"><h2>Burn rate</h2><div class="value" id="burn-rate"></div><div class="note">per day</div></div>
      <div class="card"><h2>Month-end forecast</h2><div class="value" id="forecast"></div><div class="note" id="forecast-band"></div></div>
      <div class="card"><h2>Unpriced usage</h2><div class="value" id="unpriced"></div><div class="note" id="unpriced-events"></div></div>
    </div>
    <section>
      <h2>Daily cost, last 30 days (UTC)</h2>
      <svg id="chart" role="img" aria-label="Daily cost"></svg>
    </section>
    <section>
      <h2>Last 30 days by <select id="group-by"></select></h2>
      <table id="breakdown">
        <thead><tr><th id="group-name">group</th><th>cost</th><th>tokens</th><th>requests</th><th>cost / 1k tokens</th><th>cache-hit ratio</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <section>
      <h2>Top drivers this month</h2>
      <table id="drivers"><thead><tr><th>driver</th><th>cost</th><th>share</th></tr></thead><tbody></tbody></table>
    </section>
    <section>
      <h2>Anomalies, last 30 days</h2>
      <table id="anomalies"><thead><tr><th>day</th><th>metric</th><th>subject</th><th>value</th><th>expected</th><th>severity</th></tr></thead><tbody></tbody></table>
    </section>
  </div>
</main>
<script type="module" src="${DASHBOARD_SCRIPT_PATH}"></script>
</body>
</html>
`;

/** Plain browser JavaScript (no build step), served as is. */
export const DASHBOARD_SCRIPT = `
const $ = (id) => document.getElementById(id);
const DAY = 86400000;
const keyInput = $('key');
const zoneInput = $('timezone');
keyInput.value = sessionStorage.getItem('tollgate.key') ?? '';
zoneInput.value = sessionStorage.getItem('tollgate.timezone') ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';

const usd = (amount) => '$' + Number(amount).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const count = (n) => Number(n).toLocaleString('en-US');

async function api(path) {
  const response = await fetch(path, { headers: { authorization: 'Bearer ' + keyInput.value.trim() } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((body.title ?? 'Request failed') + (body.detail ? ': ' + body.detail : ''));
    error.code = body.code;
    throw error;
  }
  return body;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    td.textContent = cell ?? '—';
    tr.append(td);
  }
  return tr;
}

function fill(tableId, rows, empty) {
  const body = $(tableId).querySelector('tbody');
  body.replaceChildren(...(rows.length ? rows.map(row) : [row([empty])]));
}

function chart(points) {
  const svg = $('chart');
  const width = 600, height = 180, gap = 2;
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  const max = Math.max(...points.map((p) => Number(p.values.cost)), 0);
  const barWidth = width / Math.max(points.length, 1);
  svg.replaceChildren(...points.map((point, i) => {
    const value = Number(point.values.cost);
    const barHeight = max > 0 ? (value / max) * (height - 10) : 0;
    const bar = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    bar.setAttribute('class', 'bar');
    bar.setAttribute('x', String(i * barWidth + gap / 2));
    bar.setAttribute('y', String(height - barHeight));
    bar.setAttribute('width', String(Math.max(barWidth - gap, 1)));
    bar.setAttribute('height', String(barHeight));
    const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    title.textContent = point.start.slice(0, 10) + ': ' + usd(point.values.cost);
    bar.append(title);
    return bar;
  }));
}

function lastDays(days) {
  const to = new Date(Math.floor(Date.now() / DAY) * DAY + DAY);
  const from = new Date(to.getTime() - days * DAY);
  const iso = (d) => d.toISOString().replace('.000Z', 'Z');
  return { from: iso(from), to: iso(to), fromDay: iso(from).slice(0, 10), toDay: iso(to).slice(0, 10) };
}

async function showBreakdown(groupBy) {
  const range = lastDays(30);
  const result = await api('/v1/kpis?metrics=cost,tokens,requests,cost_per_1k_tokens,cache_hit_ratio&granularity=month&from=' +
    range.from + '&to=' + range.to + '&group_by=' + encodeURIComponent(groupBy));
  $('group-name').textContent = groupBy;
  const series = [...result.series].sort((a, b) => Number(b.totals.cost) - Number(a.totals.cost));
  fill('breakdown', series.map((s) => [s.group[groupBy] ?? '(not set)', usd(s.totals.cost), count(s.totals.tokens), count(s.totals.requests),
    s.totals.cost_per_1k_tokens === null ? '—' : '$' + s.totals.cost_per_1k_tokens,
    s.totals.cache_hit_ratio === null ? '—' : (s.totals.cache_hit_ratio * 100).toFixed(1) + '%']), 'No usage in the last 30 days');
}

async function show() {
  $('status').textContent = 'Loading…';
  sessionStorage.setItem('tollgate.key', keyInput.value.trim());
  sessionStorage.setItem('tollgate.timezone', zoneInput.value.trim());
  try {
    const zone = encodeURIComponent(zoneInput.value.trim() || 'UTC');
    const range = lastDays(30);
    const [summary, daily, anomalies] = await Promise.all([
      // The summary is tenant-wide: a key restricted to a slice sees the slice's days and breakdown.
      api('/v1/kpis/summary?timezone=' + zone).catch((error) => {
        if (error.code === 'RESTRICTED_KEY') return null;
        throw error;
      }),
      api('/v1/kpis?metrics=cost&granularity=day&from=' + range.from + '&to=' + range.to),
      api('/v1/anomalies?from=' + range.fromDay + '&to=' + range.toDay),
    ]);
    const tenantWide = 'Tenant-wide: needs a key without a restriction';
    $('mtd-cost').textContent = summary ? usd(summary.month_to_date.cost) : '—';
    $('mtd-usage').textContent = summary
      ? count(summary.month_to_date.tokens) + ' tokens · ' + count(summary.month_to_date.requests) + ' requests'
      : tenantWide;
    $('burn-rate').textContent = summary ? usd(summary.burn_rate_per_day) : '—';
    $('forecast').textContent = summary ? usd(summary.forecast.cost) : '—';
    $('forecast-band').textContent = summary ? usd(summary.forecast.low) + ' – ' + usd(summary.forecast.high) : tenantWide;
    $('unpriced').textContent = summary ? count(summary.unpriced.tokens) + ' tokens' : '—';
    $('unpriced-events').textContent = summary ? count(summary.unpriced.events) + ' events on models without a price' : tenantWide;
    chart(daily.series[0]?.points ?? []);
    fill('drivers', (summary?.top_drivers ?? []).map((d) => [d.attribute + ' = ' + d.value, usd(d.cost),
      d.share_pct === null ? '—' : d.share_pct.toFixed(1) + '%']), summary ? 'No usage this month' : tenantWide);
    fill('anomalies', anomalies.data.map((a) => [a.data.date, a.data.metric,
      Object.entries(a.data.subject).map(([k, v]) => k + '=' + v).join(', ') || 'all', String(a.data.value),
      String(a.data.expected), a.data.severity]), 'No anomalies');
    const select = $('group-by');
    const attributes = ['model', 'provider', ...new Set((summary?.top_drivers ?? []).map((d) => d.attribute)
      .filter((a) => a !== 'model' && a !== 'provider'))];
    const chosen = attributes.includes(select.value) ? select.value : 'model';
    select.replaceChildren(...attributes.map((a) => new Option(a, a, false, a === chosen)));
    await showBreakdown(chosen);
    $('content').hidden = false;
    $('status').textContent = '';
  } catch (error) {
    $('content').hidden = true;
    $('status').textContent = error.message;
  }
}

$('connect').addEventListener('submit', (event) => { event.preventDefault(); show(); });
$('group-by').addEventListener('change', () => showBreakdown($('group-by').value).catch((e) => { $('status').textContent = e.message; }));
if (keyInput.value) show();
`;
