// Waits, through the tracker's HTTP API, until a subject's newest erasure reaches one of the given
// statuses, printing each status it passes through. Usage: tracker.mjs wait SUBJECT STATUS[,STATUS]
const [command, subject, wanted] = process.argv.slice(2);
const api = process.env.LETHE_TRACKER_URL ?? 'http://127.0.0.1:8720';
if (command !== 'wait' || !subject || !wanted) {
  console.error('usage: tracker.mjs wait <type>:<id> <status>[,<status>]');
  process.exit(2);
}
const statuses = wanted.split(',');
const deadline = Date.now() + 90_000;
let last = '';
for (;;) {
  let erasure;
  try {
    const response = await fetch(`${api}/api/subjects/${encodeURIComponent(subject)}/erasures`);
    if (response.ok) [erasure] = (await response.json()).erasures.sort((a, b) => (b.facts?.commitTime ?? 0) - (a.facts?.commitTime ?? 0));
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
