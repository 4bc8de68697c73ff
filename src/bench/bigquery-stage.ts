import { BigQuery } from '@google-cloud/bigquery';
import { createBigQueryClient } from '../../connectors/bigquery-client.js';
import { createConnector } from '../../connectors/connector-factory.js';
import { SinkRunner } from '../../consumers/sink-runner.js';
import { parseCatalog } from '../catalog/catalog.js';
import { createLogger } from '../logger.js';
import { log, within } from './bench-kit.js';
import { groupStable, type SinkContext } from './sink-stage.js';
import { idRange } from './shop-fixture.js';

/**
 * BigQuery, as context (the emulator sets its rate): the sink, in this process so its
 * statements can be counted, through the first `count` erasures of the sinks' backlog; a table
 * holding a row for each of the backlog's subjects. Reports erasures/s and DML statements per
 * erasure acked (every query the client sends that is a DELETE, UPDATE, MERGE or INSERT).
 */
export interface BigQueryResult {
  erasures: number;
  perSecond: number;
  seconds: number;
  dmlStatements: number;
  dmlPerErasure: number;
  completed: boolean;
}

type Query = (this: BigQuery, ...args: unknown[]) => unknown;

export async function bigqueryStage(ctx: SinkContext, backlog: number, count: number): Promise<BigQueryResult> {
  const { shop } = ctx;
  const e = shop.e;
  const dataset = `${shop.run}_bq`;
  const bq = createBigQueryClient({ projectId: e.bigqueryProjectId, apiEndpoint: e.bigqueryApiEndpoint });
  const prototype = BigQuery.prototype as unknown as { query: Query };
  const original = prototype.query;
  let dml = 0;
  const controller = new AbortController();
  let running: Promise<void> | undefined;
  try {
    await bq.createDataset(dataset);
    await bq.query({ query: `CREATE TABLE \`${e.bigqueryProjectId}.${dataset}.events\` (user_id STRING)` });
    await bq.query({ query: `INSERT INTO \`${e.bigqueryProjectId}.${dataset}.events\` (user_id) SELECT id FROM UNNEST(@ids) AS id`, params: { ids: idRange(1, backlog) } });
    prototype.query = function (this: BigQuery, ...args: unknown[]) {
      const first = args[0] as string | { query?: string } | undefined;
      const text = typeof first === 'string' ? first : (first?.query ?? '');
      if (/^\s*(DELETE|UPDATE|MERGE|INSERT)\b/i.test(text)) dml += 1;
      return original.apply(this, args);
    };
    const catalog = parseCatalog(JSON.stringify(shop.catalog({ dataset })), {});
    const logger = createLogger({ level: 'warn' });
    log(`bigquery: the sink through the first ${count} erasures of the backlog`);
    running = new SinkRunner({ catalog, connector: createConnector('bigquery', catalog, logger), logger }).run(controller.signal);
    const from = await groupStable(ctx.admin, `lethe.bench.${shop.run}.sink.bigquery`);
    const subjects = new Set(idRange(1, backlog));
    const acked = () => ctx.watch.done({ bigquery: 1 }, subjects).at;
    const completed = await within(ctx.timeoutMs, () => acked().size >= count, 200);
    const statements = dml;
    const done = acked();
    const last = done.size > 0 ? Math.max(...done.values()) : Date.now();
    const seconds = Math.max(0.001, (last - from) / 1000);
    const result = { erasures: done.size, perSecond: Math.round(done.size / seconds), seconds, dmlStatements: statements, dmlPerErasure: done.size > 0 ? statements / done.size : Number.NaN, completed };
    log(`bigquery: ${result.perSecond}/s (${done.size} erasures, ${statements} DML statements: ${result.dmlPerErasure.toFixed(4)} per erasure)`);
    return result;
  } finally {
    controller.abort();
    await running?.catch(() => undefined);
    prototype.query = original;
    await bq.dataset(dataset).delete({ force: true }).catch(() => undefined);
  }
}
