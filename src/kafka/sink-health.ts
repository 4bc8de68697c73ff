import { hostname } from 'node:os';
import type { Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import { reasonOf } from '../errors.js';

/**
 * A sink instance's word on its store, on the deployment's health topic (compacted, keyed by
 * sink and instance): waiting for a server since when and why, or ok. JSON rather than Avro on
 * purpose: it must be writable and readable while the schema registry is what is down. Carries
 * server names and error texts, never record contents.
 */
export interface SinkHealthRecord {
  sink: string;
  instance: string;
  state: 'waiting' | 'ok';
  /** The server waited for. */
  service: string | null;
  reason: string | null;
  since: number | null;
  /** When this was written; a waiting instance writes it again every `refreshMs`. */
  at: number;
}

export const HEALTH_REFRESH_MS = 15_000;

export function parseSinkHealth(value: Buffer | null): SinkHealthRecord | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<SinkHealthRecord>;
    if (typeof parsed.sink !== 'string' || typeof parsed.instance !== 'string' || (parsed.state !== 'waiting' && parsed.state !== 'ok') || typeof parsed.at !== 'number') return undefined;
    return { sink: parsed.sink, instance: parsed.instance, state: parsed.state, service: parsed.service ?? null, reason: parsed.reason ?? null, since: parsed.since ?? null, at: parsed.at };
  } catch {
    return undefined;
  }
}

/** Writes one instance's health; best effort (Kafka may be the server that is down), never blocking the sink. */
export class SinkHealthWriter {
  readonly instance = `${hostname()}-${process.pid}`;
  private refresh: NodeJS.Timeout | undefined;

  constructor(
    private readonly producer: Pick<Producer, 'send'>,
    private readonly topic: string,
    private readonly sink: string,
    private readonly log: Logger,
  ) {}

  waiting(outage: { service: string; reason: string; since: number }): void {
    const write = () => void this.write({ state: 'waiting', service: outage.service, reason: outage.reason, since: outage.since });
    write();
    clearInterval(this.refresh);
    this.refresh = setInterval(write, HEALTH_REFRESH_MS);
  }

  recovered(): void {
    clearInterval(this.refresh);
    this.refresh = undefined;
    void this.write({ state: 'ok', service: null, reason: null, since: null });
  }

  /** A stopping instance waits for nothing any more: its last word is ok (within a second, best effort). */
  async close(): Promise<void> {
    const waiting = this.refresh !== undefined;
    clearInterval(this.refresh);
    this.refresh = undefined;
    if (waiting) await Promise.race([this.write({ state: 'ok', service: null, reason: null, since: null }), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  }

  private write(fields: Pick<SinkHealthRecord, 'state' | 'service' | 'reason' | 'since'>): Promise<void> {
    const record: SinkHealthRecord = { sink: this.sink, instance: this.instance, ...fields, at: Date.now() };
    return this.producer
      .send({ topic: this.topic, acks: -1, messages: [{ key: `${this.sink}/${this.instance}`, value: JSON.stringify(record) }] })
      .then(
        () => undefined,
        (error: unknown) => this.log.debug({ err: reasonOf(error) }, 'could not write sink health'),
      );
  }
}
