// Through the tracker's HTTP API, with the token in LETHE_TRACKER_TOKEN (sent as a bearer token;
// LETHE_TRACKER_READ_TOKEN, when set, is used to look the erasure up instead):
//   tracker.mjs wait SUBJECT STATUS[,STATUS]   until a subject's newest erasure reaches one of the
//                                              statuses, printing each status it passes through
//   tracker.mjs confirm SUBJECT SYSTEM BY NOTE confirms a manual system of its newest erasure
const [command, subject, wanted, ...rest] = process.argv.slice(2);
const api = process.env.LETHE_TRACKER_URL ?? 'http://127.0.0.1:8720';
const token = process.env.LETHE_TRACKER_TOKEN;
const headers = token ? { authorization: `Bearer ${token}` } : {};
const readToken = process.env.LETHE_TRACKER_READ_TOKEN || token;
const readHeaders = readToken ? { authorization: `Bearer ${readToken}` } : {};
if (!['wait', 'confirm'].includes(command) || !subject || !wanted || (command === 'confirm' && rest.length !== 2)) {
  console.error('usage: tracker.mjs wait <type>:<id> <status>[,<status>] | tracker.mjs confirm <type>:<id> <system> <by> <note>');
  process.exit(2);
}
const newest = async () => {
  const response = await fetch(`${api}/api/subjects/${encodeURIComponent(subject)}/erasures`, { headers: readHeaders });
  if (!response.ok) throw new Error(`${response.status} ${(await response.json()).error?.message ?? ''}`);
  return (await response.json()).erasures.sort((a, b) => (b.facts?.commitTime ?? 0) - (a.facts?.commitTime ?? 0))[0];
};
if (command === 'confirm') {
  const erasure = await newest().catch((error) => {
    console.error(`  looking up the erasure of ${subject}: ${error.message}`);
    process.exit(1);
  });
  const [by, note] = rest;
  const response = await fetch(`${api}/api/erasures/${encodeURIComponent(erasure.eventId)}/confirm`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ system: wanted, by, note }),
  });
  const body = await response.json();
  if (!response.ok) {
    console.error(`  ${response.status}: ${body.error.code}: ${body.error.message}`);
    process.exit(1);
  }
  console.log(`  ${response.status}: ${wanted} confirmed; status now ${body.status}`);
  process.exit(0);
}
const statuses = wanted.split(',');
const deadline = Date.now() + 90_000;
let last = '';
for (;;) {
  let erasure;
  try {
    erasure = await newest();
  } catch {
    // the tracker is still starting
  }
  if (erasure) {
    const line = `  ${erasure.status}: ${erasure.counts.done} of ${erasure.counts.targets} targets done` +
      ` (${erasure.targets.filter((t) => t.kind !== 'backup' && !['applied', 'nothing_to_do', 'confirmed'].includes(t.state)).map((t) => `${t.target} ${t.state}`).join(', ') || 'none waiting'})`;
    if (line !== last) console.log(line);
    last = line;
    if (statuses.includes(erasure.status)) break;
  }
  if (Date.now() > deadline) {
    console.error(`the erasure of ${subject} did not reach ${wanted} within 90 s (tracker at ${api})`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
}
