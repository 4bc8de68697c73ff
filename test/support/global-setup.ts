import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  ENDPOINT_VARIABLES,
  missingVariables,
  readEnvFile,
  resolveEndpoints,
  type Endpoints,
} from '../../src/stack/endpoints.js';
import { probeAll } from '../../src/stack/probes.js';
import { dockerEngineAnswers, startComposeStack } from './compose-stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: Endpoints;
  }
}

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Finds the real services for integration and end-to-end tests, in this order: the endpoint
 * variables in the environment (`make test` exports .stack/env); .stack/env itself (a developer
 * running `npx vitest` after `make up`); a Docker engine, where docker-compose.yml is started
 * through testcontainers. Otherwise the run fails and says to run `make up`. Every service is
 * then probed, and a failure names the service and the reason.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  let env: Record<string, string | undefined> = { ...process.env };
  let teardown: (() => Promise<void>) | undefined;

  if (missingVariables(env).length > 0) {
    const fromFile = readEnvFile(resolve(ROOT, '.stack/env'));
    if (fromFile) env = { ...fromFile, ...stripEmpty(env) };
  }
  if (missingVariables(env).length > 0) {
    if (await dockerEngineAnswers()) {
      const compose = await startComposeStack(ROOT);
      env = { ...compose.env, ...stripEmpty(env) };
      teardown = compose.stop;
    } else {
      throw new Error(
        `Lethe's integration tests need real services, and these endpoint variables are not set: ` +
          `${missingVariables(env).join(', ')}. No Docker engine answers either. Run \`make up\` ` +
          `(starts PostgreSQL, Kafka, the schema registry, Redis, Elasticsearch and the BigQuery ` +
          `emulator natively) or \`make test\`, or export ${ENDPOINT_VARIABLES.join(', ')} for your own servers.`,
      );
    }
  }

  const endpoints = resolveEndpoints(env);
  const results = await probeAll(endpoints);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    await teardown?.();
    throw new Error(
      `services not answering: ${failed.map((f) => `${f.service} (${f.detail})`).join('; ')}. ` +
        'Run `make status` to see which are running and `make up` to start them; logs are in .stack/<service>/.',
    );
  }
  project.provide('endpoints', endpoints);
  return teardown;
}

function stripEmpty(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => Boolean(entry[1])),
  );
}
