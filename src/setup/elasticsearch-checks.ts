import { Client } from '@elastic/elasticsearch';
import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { describeFields, readTargetFields, type TargetFields } from '../../connectors/elasticsearch-fields.js';

/**
 * Doctor's Elasticsearch side: for every target, the field each match is searched on in each of
 * its indices (`user_id.keyword` for a dynamically mapped string), or why it cannot be matched
 * exactly (a text field without a keyword subfield, a missing or closed index, a field that is
 * unindexed, runtime, or missing from `_source`), naming index and field; a pattern matching no
 * index is a warning. The connector refuses the same targets at first use. Elasticsearch unreachable is a problem.
 */
export async function checkElasticsearch(catalog: Catalog): Promise<Finding[]> {
  const es = catalog.sinks.elasticsearch;
  if (!es) return [];
  const client = new Client({ node: es.node, maxRetries: 1, requestTimeout: 10_000 });
  const findings: Finding[] = [];
  try {
    for (const [type, targets] of es.subjects) {
      for (const [i, target] of targets.entries()) {
        const subject = `sinks.elasticsearch.${type}[${i}] (index ${target.index}, match ${target.match.join(', ')})`;
        findings.push(fieldsFinding(subject, await readTargetFields(client, target)));
      }
    }
    return findings;
  } catch (error) {
    return [...findings, { level: 'problem', subject: `elasticsearch ${es.node}`, message: `unreachable or refused: ${(error as Error).message}` }];
  } finally {
    await client.close();
  }
}

/** A target's resolution as a doctor finding. Pure. */
export function fieldsFinding(subject: string, fields: TargetFields): Finding {
  if ('problem' in fields) return { level: 'problem', subject, message: `${fields.problem}; its erasures fail until this is fixed` };
  // A misspelt pattern would report "nothing to do" for every erasure, forever.
  if (fields.indices.length === 0) return { level: 'warn', subject, message: 'the index name matches no index yet: every erasure reports nothing to do here (check the catalog\'s index name for a typo)' };
  const unmapped = fields.unmapped.length > 0 ? `; not mapped yet in ${fields.unmapped.map((u) => `${u.index} (${u.field})`).join(', ')}` : '';
  return { level: 'ok', subject, message: `matched exactly on ${describeFields(fields)}${unmapped}` };
}
