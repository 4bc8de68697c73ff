// Keeps the BigQuery emulator's job history short. goccy/bigquery-emulator loads the whole
// project, every job it ever ran included, on each request (goccy/bigquery-emulator#294): here
// each stored job added about 1.3 ms to every query, so after a test run or two a `SELECT 1`
// took over two seconds and the BigQuery tests timed out. Real BigQuery has no such cost, so the
// local stack deletes finished jobs through the emulator's own jobs.delete API once they are a
// minute old (no client is still reading their results by then).
//
// Started by stack/services/bigquery.sh in the emulator's process group (make down stops both);
// exits when the emulator, its parent, is gone. Usage: node job-janitor.mjs <endpoint> <project>
const [endpoint, project] = process.argv.slice(2);
const INTERVAL_MS = Number(process.env.LETHE_BQ_JANITOR_INTERVAL_MS ?? 10_000);
const MIN_AGE_MS = 60_000;
const parent = process.ppid;
const base = `${endpoint}/bigquery/v2/projects/${encodeURIComponent(project)}/jobs`;

const endTimeMs = (job) => {
  const t = Number(job.statistics?.endTime ?? 0);
  return t < 1e11 ? t * 1000 : t; // the emulator reports seconds, the API milliseconds
};

async function prune() {
  const res = await fetch(base);
  if (!res.ok) return;
  const { jobs = [] } = await res.json();
  const done = jobs.filter((j) => j.status?.state === 'DONE' && endTimeMs(j) > 0 && Date.now() - endTimeMs(j) > MIN_AGE_MS);
  let deleted = 0;
  for (const job of done) {
    const del = await fetch(`${base}/${encodeURIComponent(job.jobReference.jobId)}/delete`, { method: 'DELETE' });
    if (del.ok) deleted += 1;
  }
  if (deleted > 0) console.log(`[job-janitor] deleted ${deleted} finished job(s); ${jobs.length - deleted} kept`);
}

for (;;) {
  if (process.ppid !== parent) process.exit(0);
  await prune().catch(() => undefined); // the emulator starting or stopping: try again later
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
}
