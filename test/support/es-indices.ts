import { Client } from '@elastic/elasticsearch';
import { endpoints } from './endpoints.js';
import { uniqueName } from './names.js';

/** A fresh index name prefix (`<prefix>-<random>`, dashes only) for a test's own indices. */
export function indexPrefix(prefix: string): string {
  return uniqueName(prefix).replaceAll('_', '-');
}

/** A client for a test's own indices (`<prefix>-*`), deleted on disposal. */
export function indicesOf(prefix: string): { es: Client } & AsyncDisposable {
  const es = new Client({ node: endpoints().elasticsearchUrl });
  return {
    es,
    async [Symbol.asyncDispose]() {
      await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true });
      await es.close();
    },
  };
}
