import type { Catalog } from '../catalog/catalog.js';
import { hmacKeyVariable, readHmacKey } from '../catalog/pseudonymization.js';
import type { Finding } from '../cdc/source-checks.js';

/**
 * Doctor's check of the hmac key: when the catalog names one, its secret must be readable from the
 * environment (a BigQuery sink or a request executor using `hmac` refuses to start without it). Never prints the key.
 */
export function checkPseudonymization(catalog: Catalog, env: Record<string, string | undefined> = process.env): Finding[] {
  const id = catalog.pseudonymization?.hmacKey;
  if (id === undefined) return [];
  const users: string[] = [];
  for (const [type, targets] of catalog.sinks.bigquery?.subjects ?? []) {
    targets.forEach((t, i) => {
      if (t.action.kind === 'anonymize' && Object.values(t.action.columns).some((r) => r.kind === 'hmac')) users.push(`sinks.bigquery.${type}[${i}]`);
    });
  }
  for (const subject of catalog.subjects) {
    for (const h of subject.onRequest) {
      if (h.action.kind === 'anonymize' && Object.values(h.action.columns).some((r) => r.kind === 'hmac')) users.push(h.path);
    }
  }
  const subject = `pseudonymization.hmacKey ${id}`;
  const name = hmacKeyVariable(id);
  try {
    readHmacKey(id, env);
    return [{ level: 'ok', subject, message: `key read from ${env[name] !== undefined ? name : `${name}_FILE`}; used by ${users.length === 0 ? 'no target' : users.join(', ')}` }];
  } catch (error) {
    return [
      {
        level: users.length > 0 ? 'problem' : 'warn',
        subject,
        message: `${(error as Error).message}${users.length > 0 ? `; ${users.join(', ')} cannot start without it` : ''}`,
        fix: `set ${name} to a random secret of at least 32 bytes (e.g. openssl rand -hex 32), or ${name}_FILE to a file holding it`,
      },
    ];
  }
}
