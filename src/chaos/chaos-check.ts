import { createHash } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { readTopic } from '../kafka/topic-reader.js';
import { bqTable, redisKeys, seeded, type ShopClients, type ShopNames } from './chaos-shop.js';
import { orderIdsOf } from './chaos-subjects.js';
import type { Finding } from './chaos-verdict.js';

/**
 * Reads every store directly, not through Lethe's acks: an erased user must have nothing left
 * (keys gone, documents gone or anonymized, rows gone or anonymized, the last record of each key
 * a tombstone), and a neighbour must have exactly what was seeded.
 */
export interface StoreCheck {
  left: Finding[];
  touched: Finding[];
}

interface Observation {
  user: number;
  store: Finding['store'];
  item: string;
  /** True when the item shows the user's data (present, not anonymized). */
  holdsData: boolean;
  /** True when the item is exactly as seeded. */
  asSeeded: boolean;
}

export async function checkStores(n: ShopNames, c: ShopClients, kafka: Kafka, erased: number[], neighbours: number[]): Promise<StoreCheck> {
  const users = [...erased, ...neighbours];
  const observations = [
    ...(await observeRedis(n, c, users)),
    ...(await observeElasticsearch(n, c, users)),
    ...(await observeBigQuery(n, c, users)),
    ...(await observeCompacted(n, kafka, users)),
  ];
  const isErased = new Set(erased);
  return {
    left: observations.filter((o) => isErased.has(o.user) && o.holdsData).map(finding),
    touched: observations.filter((o) => !isErased.has(o.user) && !o.asSeeded).map(finding),
  };
}

function finding(o: Observation): Finding {
  return { user: o.user, store: o.store, item: o.item };
}

async function observeRedis(n: ShopNames, c: ShopClients, users: number[]): Promise<Observation[]> {
  const k = redisKeys(n);
  const out: Observation[] = [];
  for (let i = 0; i < users.length; i += 500) {
    const part = users.slice(i, i + 500);
    const expected: Array<{ user: number; item: string; value: string | number }> = [];
    const p = c.redis.pipeline();
    for (const u of part) {
      const add = (item: string, value: string | number) => expected.push({ user: u, item, value });
      p.get(k.user(u));
      add(k.user(u), seeded.profile(u));
      for (const s of seeded.sessions) {
        p.get(k.session(u, s));
        add(k.session(u, s), seeded.session(u, s));
      }
      for (const o of orderIdsOf(u)) {
        p.get(k.order(o));
        add(k.order(o), seeded.order(o));
      }
      p.hget(k.emails, String(u));
      add(`${k.emails} field ${u}`, seeded.email(u));
      p.sismember(k.online, String(u));
      add(`${k.online} member ${u}`, 1);
    }
    const results = (await p.exec()) ?? [];
    results.forEach(([error, value], j) => {
      if (error) throw new Error(`redis check: ${expected[j]!.item}: ${error.message}`);
      const e = expected[j]!;
      const holdsData = value !== null && value !== 0;
      out.push({ user: e.user, store: 'redis', item: e.item, holdsData, asSeeded: value === e.value });
    });
  }
  return out;
}

interface EsDoc {
  _id: string;
  found?: boolean;
  _source?: { user_id?: string; email?: string | null; name?: string | null };
}

async function observeElasticsearch(n: ShopNames, c: ShopClients, users: number[]): Promise<Observation[]> {
  await c.es.indices.refresh({ index: `${n.prefix}-*` });
  const out: Observation[] = [];
  const named = (d: EsDoc) => d._source?.email != null || d._source?.name != null;
  const exact = (d: EsDoc, u: number) => d.found === true && d._source?.email === seeded.email(u) && d._source?.name === seeded.name(u) && d._source?.user_id === String(u);
  for (let i = 0; i < users.length; i += 500) {
    const part = users.slice(i, i + 500);
    const userDocs = (await c.es.mget<EsDoc['_source']>({ index: n.indices.users, ids: part.map(String) })).docs as EsDoc[];
    const orderIds = part.flatMap((u) => orderIdsOf(u).map((o) => ({ u, o })));
    const orderDocs = (await c.es.mget<EsDoc['_source']>({ index: n.indices.orders, ids: orderIds.map((x) => String(x.o)) })).docs as EsDoc[];
    part.forEach((u, j) => {
      const d = userDocs[j]!;
      out.push({ user: u, store: 'elasticsearch', item: `${n.indices.users}/${u}`, holdsData: d.found === true, asSeeded: exact(d, u) });
    });
    orderIds.forEach(({ u, o }, j) => {
      const d = orderDocs[j]!;
      out.push({ user: u, store: 'elasticsearch', item: `${n.indices.orders}/${o}`, holdsData: d.found === true && named(d), asSeeded: exact(d, u) });
    });
    // By the keyword field too: a document naming the user under another id is data left as well.
    const hits = await c.es.search<EsDoc['_source']>({
      index: `${n.indices.users},${n.indices.orders}`,
      size: 10_000,
      query: { terms: { user_id: part.map(String) } },
    });
    const seen = new Set([...part.map((u) => `${n.indices.users}/${u}`), ...orderIds.map((x) => `${n.indices.orders}/${x.o}`)]);
    for (const hit of hits.hits.hits) {
      const item = `${hit._index}/${hit._id}`;
      if (seen.has(item)) continue;
      const u = Number(hit._source?.user_id);
      const unnamed = hit._index === n.indices.orders && !named({ _id: hit._id!, _source: hit._source! });
      out.push({ user: u, store: 'elasticsearch', item: `${item} (not seeded)`, holdsData: !unnamed, asSeeded: false });
    }
  }
  return out;
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

async function observeBigQuery(n: ShopNames, c: ShopClients, users: number[]): Promise<Observation[]> {
  const wanted = new Set(users);
  const out: Observation[] = [];
  const [events] = await c.bq.query({ query: `SELECT user_id, kind FROM ${bqTable(c.projectId, n, 'events')}` });
  const kindsOf = new Map<number, string[]>();
  for (const r of events as Array<{ user_id: string; kind: string }>) {
    const u = Number(r.user_id);
    kindsOf.set(u, [...(kindsOf.get(u) ?? []), r.kind]);
  }
  for (const u of users) {
    const kinds = (kindsOf.get(u) ?? []).sort();
    out.push({ user: u, store: 'bigquery', item: `${n.run}.events user_id=${u} (${kinds.length} row(s))`, holdsData: kinds.length > 0, asSeeded: kinds.join() === [...seeded.eventKinds].join() });
  }
  for (const u of kindsOf.keys()) if (!wanted.has(u)) out.push({ user: u, store: 'bigquery', item: `${n.run}.events user_id=${u} (not seeded)`, holdsData: true, asSeeded: false });

  const [orders] = await c.bq.query({ query: `SELECT user_id, order_id, email, name, phone FROM ${bqTable(c.projectId, n, 'orders')}` });
  type Row = { user_id: string; order_id: string; email: string | null; name: string | null; phone: string | null };
  const rowsOf = new Map<string, Row[]>();
  for (const r of orders as Row[]) rowsOf.set(r.order_id, [...(rowsOf.get(r.order_id) ?? []), r]);
  for (const u of users) {
    for (const o of orderIdsOf(u)) {
      const rows = rowsOf.get(String(o)) ?? [];
      rowsOf.delete(String(o));
      const item = `${n.run}.orders order_id=${o}`;
      const anonymized = (r: Row) => r.email === null && r.name === 'Deleted user' && r.phone === sha256Hex(seeded.phone(o));
      const exact = (r: Row) => r.user_id === String(u) && r.email === seeded.email(u) && r.name === seeded.name(u) && r.phone === seeded.phone(o);
      out.push({ user: u, store: 'bigquery', item: `${item} (${rows.length} row(s))`, holdsData: rows.some((r) => !anonymized(r)), asSeeded: rows.length === 1 && exact(rows[0]!) });
    }
  }
  for (const rows of rowsOf.values()) {
    for (const r of rows) out.push({ user: Number(r.user_id), store: 'bigquery', item: `${n.run}.orders order_id=${r.order_id} (not seeded)`, holdsData: true, asSeeded: false });
  }
  return out;
}

async function observeCompacted(n: ShopNames, kafka: Kafka, users: number[]): Promise<Observation[]> {
  const latest = new Map<string, string | null>();
  for (const topic of [n.topics.profiles, n.topics.orders]) {
    await readTopic(kafka, topic, async (m) => void latest.set(`${topic}/${m.key?.toString() ?? ''}`, m.value === null ? null : m.value.toString()));
  }
  const out: Observation[] = [];
  const observe = (user: number, item: string, value: string) => {
    const last = latest.get(item);
    // A key whose records compaction removed, tombstone included, holds nothing either.
    out.push({ user, store: 'compacted', item, holdsData: last !== undefined && last !== null, asSeeded: last === value });
  };
  for (const u of users) {
    observe(u, `${n.topics.profiles}/${u}`, seeded.profile(u));
    for (const o of orderIdsOf(u)) observe(u, `${n.topics.orders}/${o}`, seeded.order(o));
  }
  return out;
}
