/**
 * The dashboard: one static page that reads the JSON API and re-reads it when the tracker
 * announces a change (server-sent events), with a slow poll as a fallback. The server sorts
 * erasures by urgency, so overdue and failed ones come first. A sink waiting for its store is a
 * banner on top, and its targets say "waiting: … unreachable since …".
 *
 * When the API answers 401 the page asks for a token, keeps it in sessionStorage (this tab only)
 * and sends it as `Authorization: Bearer`. The event stream is read with fetch rather than
 * EventSource, which cannot send headers, so the token never goes into a URL (or a proxy's log);
 * a report opens from a blob fetched the same way.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lethe: erasures</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7fa}
header{background:#1d2430;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1.5rem;align-items:baseline}
header h1{font-size:1.2rem;margin:0}#live{font-size:.85rem;opacity:.8}
main{padding:1rem 1.5rem}#counts span{margin-right:1rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #dde;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#eef0f5;font-weight:600}.badge{display:inline-block;border-radius:.6rem;padding:0 .5rem;font-size:.8rem;font-weight:600;color:#fff}
.s-complete{background:#3a7d44}.s-partial{background:#5b7db1}.s-pending{background:#8a8f99}.s-deferred{background:#b7791f}.s-held{background:#6b4fa0}
.s-failed,.s-overdue{background:#b3261e}.t{display:inline-block;margin:.1rem .2rem .1rem 0;padding:0 .35rem;border-radius:.3rem;font-size:.78rem;border:1px solid #ccd}
.t-applied,.t-nothing_to_do,.t-confirmed{background:#e5f3e7}.t-failed{background:#fbeaea}.t-deferred{background:#fdf3e1}.t-retained{background:#eef0f5}.t-held{background:#efe9f8}
code{font-size:.85rem}.empty{padding:2rem;text-align:center;color:#667}
#login{background:#fff;border:1px solid #ccd;border-radius:.3rem;padding:.6rem .8rem;margin:0 0 .8rem}#login input{width:28rem;max-width:60vw}#login-why{margin-left:.6rem;color:#b3261e}
#requests h2{font-size:1rem;margin:.6rem 0 .4rem}.overdue{color:#b3261e;font-weight:600}.near{color:#b7791f;font-weight:600}
.r-complete{background:#3a7d44}.r-complete_with_exceptions{background:#5b8a3a}.r-failed,.r-denied{background:#b3261e}.r-canceled,.r-closed_unverified{background:#8a8f99}.r-waiting,.r-awaiting_approval,.r-identity_unverified,.r-verified,.r-received{background:#5b7db1}.r-executing,.r-propagating{background:#b7791f}
#waits{margin:0 0 .8rem}#waits div{background:#fdf3e1;border:1px solid #e8c27a;border-radius:.3rem;padding:.4rem .7rem;margin-bottom:.3rem}.t-waiting{background:#fdf3e1;border-style:dashed}
</style></head>
<body>
<header><h1>Lethe: erasures</h1><span id="live">connecting…</span></header>
<main>
<form id="login" hidden><label>API token <input id="token" type="password" autocomplete="off" spellcheck="false"></label> <button type="submit">use it</button><span id="login-why"></span></form>
<section id="waits"></section>
<section id="requests" hidden><h2>Requests</h2>
<table><thead><tr><th>state</th><th>type</th><th>subject</th><th>deadline</th><th>received</th><th>request</th></tr></thead><tbody id="request-rows"></tbody></table>
<h2>Erasures</h2></section>
<p id="counts"></p>
<table><thead><tr><th>status</th><th>subject</th><th>erased in the database</th><th>due</th><th>completed</th><th>targets</th><th>proof</th></tr></thead>
<tbody id="rows"><tr><td colspan="7" class="empty">loading…</td></tr></tbody></table>
</main>
<script>
const esc = (t) => String(t ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const time = (ms) => (ms == null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z');
function row(e) {
  const targets = e.targets.map((t) =>
    '<span class="t t-' + esc(t.waiting ? 'waiting' : t.state) + '" title="' + esc(t.sink + ' ' + t.target + (t.error ? ': ' + t.error : '') + (t.waiting ? ': ' + t.waiting : '')) + '">' +
    esc(t.kind === 'sink' ? t.sink + ' ' + t.target : t.target) + ': ' +
    esc(t.waiting ? t.waiting : t.state === 'retained' && t.heldUntil ? 'holds copies until ' + time(t.heldUntil).slice(0, 10) : t.state.replace(/_/g, ' ')) + '</span>').join('');
  return '<tr data-erasure="' + esc(e.eventId) + '" data-status="' + esc(e.status) + '">' +
    '<td><span class="badge s-' + esc(e.status) + '">' + esc(e.status) + '</span></td>' +
    '<td><code>' + esc(e.subjectType + ':' + e.subjectId) + '</code></td>' +
    '<td>' + esc(time(e.facts && e.facts.commitTime)) + '</td><td>' + esc(time(e.dueAt)) + '</td><td>' + esc(time(e.completedAt)) + '</td>' +
    '<td>' + targets + '</td>' +
    '<td><a class="report" href="/api/erasures/' + encodeURIComponent(e.eventId) + '/report?format=html">report</a></td></tr>';
}
const TOKEN_KEY = 'lethe.apiToken';
let token = sessionStorage.getItem(TOKEN_KEY) || '';
const headers = () => (token ? { authorization: 'Bearer ' + token } : {});
const live = (text) => { document.getElementById('live').textContent = text; };
class NeedsToken extends Error {}
function askToken(why) {
  live('token needed');
  document.getElementById('login-why').textContent = why;
  document.getElementById('login').hidden = false;
  document.getElementById('token').focus();
}
async function call(path, signal) {
  const response = await fetch(path, { headers: headers(), signal });
  if (response.status === 401 || response.status === 403) {
    askToken(response.status === 403 ? 'this token may not read statuses' : token ? 'the tracker refused this token' : 'this tracker needs a token');
    throw new NeedsToken();
  }
  if (!response.ok) throw new Error(path + ': ' + response.status);
  return response;
}
const DAY = 86400000;
function requestRow(r) {
  const left = Date.parse(r.deadline) - Date.now();
  const open = r.closedAt == null;
  const due = !open ? 'closed ' + r.closedAt.slice(0, 10) : left < 0 ? '<span class="overdue">overdue since ' + esc(r.deadline.slice(0, 10)) + '</span>' : left < 7 * DAY ? '<span class="near">' + esc(r.deadline.slice(0, 10)) + ' (' + Math.ceil(left / DAY) + ' d)</span>' : esc(r.deadline.slice(0, 10));
  return '<tr data-request="' + esc(r.id) + '" data-state="' + esc(r.state) + '"><td><span class="badge r-' + esc(r.state) + '">' + esc(r.state.replace(/_/g, ' ')) + '</span></td><td>' + esc(r.type) + '</td><td><code>' + esc(r.subject || '(not resolved)') + '</code></td><td>' + due + '</td><td>' + esc(r.receivedAt.slice(0, 19).replace('T', ' ')) + '</td>' +
    '<td><a class="report" href="/api/requests/' + encodeURIComponent(r.id) + '/report?format=html">' + esc(r.id) + '</a></td></tr>';
}
async function refreshRequests() {
  const response = await fetch('/api/requests?limit=100', { headers: headers() });
  if (response.status === 404) return;
  if (!response.ok) return;
  const { requests } = await response.json();
  document.getElementById('requests').hidden = false;
  document.getElementById('request-rows').innerHTML = requests.length ? requests.map(requestRow).join('') : '<tr><td colspan="6" class="empty">no requests yet</td></tr>';
}
async function refresh() {
  await refreshRequests().catch(() => {});
  const sinks = await (await call('/api/sinks')).json();
  document.getElementById('waits').innerHTML = sinks.waiting.map((w) => '<div data-waiting-sink="' + esc(w.sink) + '">sink <b>' + esc(w.sink) + '</b> ' + esc(w.message) + ' (' + esc(w.instances) + ' instance' + (w.instances === 1 ? '' : 's') + '): its erasures wait, nothing is failed</div>').join('');
  const response = await call('/api/erasures?limit=200');
  const { erasures } = await response.json();
  const counts = {};
  for (const e of erasures) counts[e.status] = (counts[e.status] || 0) + 1;
  document.getElementById('counts').innerHTML = Object.entries(counts).map(([s, n]) => '<span><span class="badge s-' + esc(s) + '">' + esc(s) + '</span> ' + n + '</span>').join('');
  document.getElementById('rows').innerHTML = erasures.length ? erasures.map(row).join('') : '<tr><td colspan="7" class="empty">no erasures yet</td></tr>';
}
let pending;
const soon = () => { clearTimeout(pending); pending = setTimeout(() => refresh().catch(() => {}), 150); };
let streaming;
async function stream() {
  streaming?.abort();
  const mine = (streaming = new AbortController());
  try {
    const response = await call('/api/stream', mine.signal);
    live('live');
    soon();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\\n\\n')) >= 0) {
        if (/^event: status$/m.test(buffer.slice(0, end))) soon();
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (error) {
    if (error instanceof NeedsToken) return;
  }
  if (mine !== streaming) return;
  live('reconnecting…');
  setTimeout(stream, 2000);
}
document.getElementById('login').addEventListener('submit', (event) => {
  event.preventDefault();
  token = document.getElementById('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  document.getElementById('login').hidden = true;
  live('connecting…');
  stream();
});
// A link cannot send the token: fetch the report with it and open what came back.
document.querySelector('main').addEventListener('click', async (event) => {
  const link = event.target.closest('a.report');
  if (!link || !token) return;
  event.preventDefault();
  const opened = window.open('about:blank', '_blank');
  const response = await call(link.getAttribute('href')).catch(() => null);
  if (!response) return opened?.close();
  const url = URL.createObjectURL(await response.blob());
  if (opened) opened.location.href = url;
});
setInterval(soon, 10000);
stream();
</script>
</body></html>
`;
