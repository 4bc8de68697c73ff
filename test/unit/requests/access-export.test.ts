import { describe, expect, it } from 'vitest';
import { exportTables } from '../../../src/requests/access-export.js';
import { openExport, sealExport } from '../../../src/requests/export-crypto.js';
import { completionMail } from '../../../src/requests/notifications.js';
import { composeMail } from '../../../src/requests/request-ports.js';
import { RequestSecrets } from '../../../src/requests/request-secrets.js';
import type { RequestRow } from '../../../src/requests/request-store.js';
import { testCatalog } from '../../support/test-catalog.js';

// Access exports: sealed at rest under a key from the request secret, read from each of the
// subject's tables once, announced by a mail that carries the link and nothing of the person.

const secrets = new RequestSecrets(Buffer.alloc(32, 7));
const key = secrets.exportKey();
const plaintext = Buffer.from(JSON.stringify({ tables: [{ table: 'shop.users', rows: [{ email: 'ada@example.com' }] }] }));

describe('access export encryption', () => {
  it('round-trips under the key derived from the request secret, and the sealed bytes hold nothing in clear', () => {
    const sealed = sealExport(key, 'req_a', plaintext);
    expect(openExport(new RequestSecrets(Buffer.alloc(32, 7)).exportKey(), 'req_a', sealed).equals(plaintext)).toBe(true);
    expect(sealed.includes(Buffer.from('ada@example.com'))).toBe(false);
    // A fresh IV each time: the same copy never seals to the same bytes.
    expect(sealExport(key, 'req_a', plaintext).equals(sealed)).toBe(false);
  });

  it('the key is 32 bytes, fixed by the secret, and another secret makes another key', () => {
    expect(key.length).toBe(32);
    expect(new RequestSecrets(Buffer.alloc(32, 7)).exportKey().equals(key)).toBe(true);
    expect(new RequestSecrets(Buffer.alloc(32, 8)).exportKey().equals(key)).toBe(false);
  });

  it('a wrong key, another request, a changed byte or a truncated copy does not open', () => {
    const sealed = sealExport(key, 'req_a', plaintext);
    expect(() => openExport(new RequestSecrets(Buffer.alloc(32, 8)).exportKey(), 'req_a', sealed)).toThrow(/access export of request req_a cannot be decrypted/);
    expect(() => openExport(key, 'req_b', sealed)).toThrow(/cannot be decrypted/);
    for (const at of [0, 5, 20, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[at] = tampered[at]! ^ 0x01;
      expect(() => openExport(key, 'req_a', tampered), `byte ${at}`).toThrow(expect.objectContaining({ code: 'EXPORT_UNREADABLE' }));
    }
    expect(() => openExport(key, 'req_a', sealed.subarray(0, 20))).toThrow(/cannot be decrypted/);
    expect(() => sealExport(Buffer.alloc(16), 'req_a', plaintext)).toThrow(/32 bytes/);
  });

  it('an export link is good for the download only', async () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const token = await secrets.linkToken('req_a', 'export', now + 60_000);
    expect(await secrets.checkLink(token, 'req_a', 'export', now)).toBe(true);
    expect(await secrets.checkLink(token, 'req_a', 'cancel', now)).toBe(false);
    expect(await secrets.checkLink(await secrets.linkToken('req_a', 'cancel', now + 60_000), 'req_a', 'export', now)).toBe(false);
    expect(await secrets.checkLink(token, 'req_a', 'export', now + 60_001)).toBe(false);
  });
});

describe('the tables of an access export', () => {
  it('are the root by its key, then related and onRequest tables, each once', () => {
    const { subjects } = testCatalog(`
subjects:
  user:
    table: shop.users
    key: id
    erasedWhen: [delete]
    related:
      - { table: shop.orders, subjectColumn: user_id }
      - { table: shop.messages, subjectColumn: sender_id }
    onRequest:
      - { table: shop.users, action: delete }
      - { table: shop.orders, subjectColumn: user_id, action: delete }
      - { table: shop.invoices, subjectColumn: customer_id, action: { keep: "tax law" } }
`);
    expect(exportTables(subjects[0]!).map((t) => [`${t.table.schema}.${t.table.name}`, t.subjectColumns])).toEqual([
      ['shop.users', ['id']],
      ['shop.orders', ['user_id']],
      ['shop.messages', ['sender_id']],
      ['shop.invoices', ['customer_id']],
    ]);
  });
});

describe('the completion mail of an access request', () => {
  const until = new Date('2027-01-15T10:00:00Z');
  const url = 'https://privacy.shop.example/public/requests/req_abc/export?token=t.t.t';

  it('carries the download link and its last day, and nothing else of the request', () => {
    const { subject, text } = completionMail({ requestId: 'req_abc', type: 'access', summary: 'A copy of your personal data is ready.', download: { url, until } });
    expect(subject).toBe('Your privacy request is complete');
    expect(text).toContain('request for a copy of your personal data is complete');
    expect(text).toContain(`until 2027-01-15 (UTC):\n${url}\n`);
    expect(text).toContain('Reference: req_abc');
  });

  it('is composed with the link when the outbox payload dates the copy', () => {
    const request = { id: 'req_abc', type: 'access', deadline: until.getTime() } as RequestRow;
    const withLink = composeMail({ request, kind: 'completion', payload: { summary: 'Ready.', exportExpiresAt: until.getTime() }, exportUrl: url });
    expect(withLink.text).toContain(url);
    const erasure = composeMail({ request: { ...request, type: 'erasure' }, kind: 'completion', payload: { summary: 'Erased.' } });
    expect(erasure.text).not.toContain('Download');
  });
});
