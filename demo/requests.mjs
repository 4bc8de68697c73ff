#!/usr/bin/env node
// The demo's privacy request, as the person and the privacy team see it, through the tracker's
// HTTP API (reads with the token in LETHE_TRACKER_TOKEN) and the stack's Mailpit (MAILPIT_URL):
//   requests.mjs verify ID ADDRESS         reads the code from the verification mail, posts it to
//                                          /public/requests/ID/verify, prints the state, the grace
//                                          period and the cancel link of the confirmation mail
//   requests.mjs wait ID STATE[,STATE]     until the request reaches one of the states, printing
//                                          each state it passes through
//   requests.mjs completion ADDRESS        the completion mail's subject and summary line
// Prints short lines for a person watching; a timeout says what did not come and exits 1.
const [command, ...args] = process.argv.slice(2);
const api = process.env.LETHE_TRACKER_URL ?? 'http://127.0.0.1:8720';
const token = process.env.LETHE_TRACKER_TOKEN;
const readHeaders = token ? { authorization: `Bearer ${token}` } : {};
const mailpit = process.env.MAILPIT_URL;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  let failure = '';
  for (;;) {
    const found = await probe().catch((error) => void (failure = ` (last: ${error.message})`));
    if (found) return found;
    if (Date.now() > deadline) {
      console.error(`${what} did not come within ${timeoutMs / 1000} s${failure}`);
      process.exit(1);
    }
    await sleep(500);
  }
}

/** The newest mail to `address` whose subject starts with `subject`, with its text. */
async function mailTo(address, subject) {
  const query = new URLSearchParams({ query: `to:"${address}"`, limit: '50' });
  const response = await fetch(`${mailpit}/api/v1/search?${query}`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`mailpit answered ${response.status}`);
  const found = (await response.json()).messages
    .filter((m) => (m.To ?? []).some((t) => t.Address.toLowerCase() === address.toLowerCase()) && m.Subject.startsWith(subject))
    .sort((a, b) => b.Created.localeCompare(a.Created))[0];
  if (!found) return undefined;
  const message = await (await fetch(`${mailpit}/api/v1/message/${encodeURIComponent(found.ID)}`, { signal: AbortSignal.timeout(10_000) })).json();
  return { subject: found.Subject, lines: message.Text.replace(/\r\n/g, '\n').split('\n').map((l) => l.trim()).filter(Boolean) };
}

async function request(id) {
  const response = await fetch(`${api}/api/requests/${encodeURIComponent(id)}`, { headers: readHeaders, signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET /api/requests/${id}: ${response.status}`);
  return response.json();
}

// A link's token, shortened for the screen (the whole link is in Mailpit).
const short = (line) => line.replace(/(token=.{16}).*/, '$1…');

async function verify(id, address) {
  const mail = await until('the verification mail', 30_000, () => mailTo(address, 'Confirm your privacy request'));
  const code = mail.lines.find((l) => /^\d{6}$/.test(l));
  console.log(`  mail to ${address}: "${mail.subject}"`);
  console.log(`    ${code}`);
  const response = await fetch(`${api}/public/requests/${encodeURIComponent(id)}/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  const body = await response.json();
  console.log(`  POST /public/requests/${id}/verify {"code":"${code}"} -> ${response.status} ${JSON.stringify(body)}`);
  if (!response.ok) process.exit(1);
  const r = await request(id);
  console.log(`  state ${r.state}: subject ${r.subject}, grace period until ${r.graceEndsAt}, deadline ${r.deadline.slice(0, 10)}`);
  const confirmed = await until('the confirmation mail', 30_000, () => mailTo(address, 'Your privacy request is confirmed'));
  console.log(`  mail to ${address}: "${confirmed.subject}"`);
  for (const line of confirmed.lines.filter((l) => /start erasing|\/cancel\?token=/.test(l))) console.log(`    ${short(line)}`);
}

async function wait(id, wanted) {
  const states = wanted.split(',');
  let last = '';
  await until(`request ${id} reaching ${wanted}`, 120_000, async () => {
    const now = await request(id);
    if (now.state !== last) console.log(`  ${now.state}`);
    last = now.state;
    return states.includes(now.state);
  });
}

async function completion(address) {
  const mail = await until('the completion mail', 30_000, () => mailTo(address, 'Your privacy request is complete'));
  console.log(`  mail to ${address}: "${mail.subject}"`);
  const at = mail.lines.findIndex((l) => l.endsWith('is complete.'));
  console.log(`    ${mail.lines[at + 1]}`);
}

if (command === 'verify' && args.length === 2) await verify(...args);
else if (command === 'wait' && args.length === 2) await wait(...args);
else if (command === 'completion' && args.length === 1) await completion(...args);
else {
  console.error('usage: requests.mjs verify <id> <address> | wait <id> <state>[,<state>] | completion <address>');
  process.exit(2);
}
