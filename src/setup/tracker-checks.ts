import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { exposureOf } from '../tracker/api-access.js';

/** `lethe doctor`'s view of the tracker's API: who can reach it, and whether tokens travel in clear. */
export function checkTrackerExposure(catalog: Pick<Catalog, 'tracker'>): Finding[] {
  const { tracker } = catalog;
  const exposure = exposureOf(tracker, tracker.host);
  const problem = exposure.refused ?? exposure.clearText;
  if (problem) return [{ level: 'problem', subject: 'tracker.host', message: problem }];
  const operators = tracker.tokens.filter((t) => t.role === 'operator').length;
  const tokens =
    tracker.tokens.length === 0
      ? 'no tokens: reads (statuses, reports, subject keys) are open to every user and process of this machine; writes (confirm) need an operator token, so none can be made through the API; `lethe confirm` still works'
      : `${tracker.tokens.length} token(s), ${operators} operator(s)`;
  // Subject keys can be email addresses: on a shared machine, open reads are worth a warning.
  const level = tracker.tokens.length === 0 ? 'warn' : 'ok';
  const fix = tracker.tokens.length === 0 ? 'lethe token create --name <who> --role reader (and one operator), then list their hashes in tracker.tokens or LETHE_API_TOKENS' : undefined;
  return [{ level, subject: 'tracker.host', message: `${tracker.host}:${tracker.port}${tracker.tls ? ' over TLS' : ''}; ${tokens}`, ...(fix ? { fix } : {}) }];
}
