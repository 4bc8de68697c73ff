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
      ? 'no tokens: reads are open to this machine, writes (confirm) need an operator token, so none can be made through the API; `lethe confirm` still works'
      : `${tracker.tokens.length} token(s), ${operators} operator(s)`;
  return [{ level: 'ok', subject: 'tracker.host', message: `${tracker.host}:${tracker.port}${tracker.tls ? ' over TLS' : ''}; ${tokens}` }];
}
