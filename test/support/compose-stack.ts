import { DockerComposeEnvironment, getContainerRuntimeClient, Wait } from 'testcontainers';

/**
 * The Docker path of the test harness: when no endpoints are configured and a Docker engine
 * answers, docker-compose.yml is brought up through testcontainers. The compose file publishes the
 * same loopback ports as the native stack's defaults, so the endpoints are the same variables.
 */
export async function dockerEngineAnswers(): Promise<boolean> {
  try {
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000)),
    ]);
    return Boolean(client);
  } catch {
    return false;
  }
}

export async function startComposeStack(
  root: string,
): Promise<{ env: Record<string, string>; stop: () => Promise<void> }> {
  const environment = await new DockerComposeEnvironment(root, 'docker-compose.yml')
    .withWaitStrategy('elasticsearch-1', Wait.forHealthCheck())
    .withWaitStrategy('kafka-1', Wait.forHealthCheck())
    .withStartupTimeout(300_000)
    .up();
  return {
    env: {
      DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:55432/lethe',
      KAFKA_BROKERS: '127.0.0.1:59092',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:58081',
      REDIS_URL: 'redis://127.0.0.1:56379',
      ELASTICSEARCH_URL: 'http://127.0.0.1:59200',
      BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:59050',
      BIGQUERY_PROJECT_ID: 'lethe-local',
      SMTP_URL: 'smtp://127.0.0.1:51025',
      MAILPIT_URL: 'http://127.0.0.1:58025',
    },
    stop: async () => {
      await environment.down();
    },
  };
}
