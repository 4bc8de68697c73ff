import { escapeHtml } from '../tracker/proof-report.js';

/** The small page a mailed link lands on (its button posts the link), or a form post's answer. Not indexed. */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}
