import { BigQuery } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';

export interface BigQueryClientOptions {
  projectId: string;
  /** A non-Google endpoint (the emulator); unset for real BigQuery. */
  apiEndpoint?: string | undefined;
}

/**
 * The one way Lethe builds a BigQuery client. Against real BigQuery the client finds Application
 * Default Credentials as usual. Against a local endpoint (the emulator) it is given a static token:
 * otherwise the auth library probes the GCE metadata server on every start, which here means a
 * delay and a MetadataLookupWarning, and the emulator ignores credentials anyway.
 */
export function createBigQueryClient({ projectId, apiEndpoint }: BigQueryClientOptions): BigQuery {
  if (!apiEndpoint || isGoogleEndpoint(apiEndpoint)) {
    return new BigQuery({ projectId, ...(apiEndpoint ? { apiEndpoint } : {}) });
  }
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'local-endpoint', expiry_date: Number.MAX_SAFE_INTEGER });
  return new BigQuery({ projectId, apiEndpoint, authClient });
}

function isGoogleEndpoint(endpoint: string): boolean {
  return new URL(endpoint).hostname.endsWith('.googleapis.com');
}
