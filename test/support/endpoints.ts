import { inject } from 'vitest';
import type { Endpoints } from '../../src/stack/endpoints.js';

/** The service endpoints the global setup found and probed. */
export function endpoints(): Endpoints {
  return inject('endpoints');
}
