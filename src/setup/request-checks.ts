import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { isLoopback } from '../tracker/host-check.js';
import { Mailer } from '../requests/mailer.js';
import { readRequestSecret, REQUEST_SECRET_ENV } from '../requests/request-secrets.js';

/**
 * `lethe doctor`'s view of privacy requests: the secret behind links and codes is there (never
 * printed), the SMTP server answers, and the links in mail point where people can reach them.
 */
export async function checkRequests(catalog: Pick<Catalog, 'requests' | 'tracker'>, env: Record<string, string | undefined> = process.env): Promise<Finding[]> {
  const { requests } = catalog;
  if (!requests.enabled) return [];
  const findings: Finding[] = [];
  try {
    readRequestSecret(env);
    findings.push({ level: 'ok', subject: 'requests', message: `the request secret is set (${env[REQUEST_SECRET_ENV] ? REQUEST_SECRET_ENV : `${REQUEST_SECRET_ENV}_FILE`})` });
  } catch (error) {
    findings.push({ level: 'problem', subject: 'requests', message: (error as Error).message, fix: `openssl rand -base64 48 > /etc/lethe/request-secret; export ${REQUEST_SECRET_ENV}_FILE=/etc/lethe/request-secret` });
  }
  if (!requests.mail) {
    findings.push({ level: 'warn', subject: 'requests.mail', message: 'no SMTP server: the public intake is refused (codes go by mail) and no one is told about their request' });
  } else {
    const mailer = new Mailer(requests.mail);
    try {
      await mailer.verify();
      findings.push({ level: 'ok', subject: 'requests.mail.smtp', message: `${mailer.server} answers` });
    } catch (error) {
      findings.push({ level: 'problem', subject: 'requests.mail.smtp', message: `${(error as Error).message}: codes, receipts and completions would wait in the outbox` });
    } finally {
      mailer.close();
    }
  }
  if (!requests.publicUrl) {
    findings.push({ level: 'warn', subject: 'requests.publicUrl', message: `not set: links in mail point to http://${catalog.tracker.host}:${catalog.tracker.port}, which people outside this machine cannot reach`, fix: 'requests: { publicUrl: https://privacy.<your domain> }' });
  } else {
    const url = new URL(requests.publicUrl);
    if (url.protocol === 'http:' && !isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) {
      findings.push({ level: 'warn', subject: 'requests.publicUrl', message: `${requests.publicUrl} is plain http: the links' tokens would cross the network in clear` });
    }
  }
  if (requests.graceMs.erasure === 0) findings.push({ level: 'warn', subject: 'requests.gracePeriod.erasure', message: 'no grace period: a verified erasure is executed at once, with no time to cancel' });
  return findings;
}
