import { HEALTH_REFRESH_MS, type SinkHealthRecord } from '../kafka/sink-health.js';

export interface SinkWait {
  sink: string;
  /** The server the sink waits for, e.g. elasticsearch. */
  service: string;
  reason: string;
  /** Since when (the earliest waiting instance). */
  since: number;
  instances: number;
}

/** A waiting record not refreshed for this long is from an instance that is gone. */
export const WAIT_EXPIRY_MS = 3 * HEALTH_REFRESH_MS;

/**
 * Which sinks wait for a server, folded from the sink instances' health records (the latest per
 * instance). Pure: the tracker feeds it records as read and asks it at a time.
 */
export class SinkWaits {
  private readonly latest = new Map<string, SinkHealthRecord>();

  /** Records a health record; returns true when it starts a wait of its sink (none was waiting before). */
  record(record: SinkHealthRecord, now = Date.now()): boolean {
    const key = `${record.sink}/${record.instance}`;
    const previous = this.latest.get(key);
    if (previous && previous.at > record.at) return false;
    const wasWaiting = this.current(now).some((w) => w.sink === record.sink);
    this.latest.set(key, record);
    return record.state === 'waiting' && !wasWaiting && now - record.at < WAIT_EXPIRY_MS;
  }

  current(now = Date.now()): SinkWait[] {
    const bySink = new Map<string, SinkWait>();
    for (const r of this.latest.values()) {
      if (r.state !== 'waiting' || now - r.at >= WAIT_EXPIRY_MS) continue;
      const since = r.since ?? r.at;
      const wait = bySink.get(r.sink);
      if (!wait) bySink.set(r.sink, { sink: r.sink, service: r.service ?? 'unknown', reason: r.reason ?? '', since, instances: 1 });
      else {
        wait.instances += 1;
        if (since < wait.since) Object.assign(wait, { since, service: r.service ?? wait.service, reason: r.reason ?? wait.reason });
      }
    }
    return [...bySink.values()].sort((a, b) => a.sink.localeCompare(b.sink));
  }

  waitOf(sink: string, now = Date.now()): SinkWait | undefined {
    return this.current(now).find((w) => w.sink === sink);
  }
}

/** A wait in words, for the status API and the dashboard: "waiting: elasticsearch unreachable since …". */
export function describeWait(wait: SinkWait): string {
  return `waiting: ${wait.service} unreachable since ${new Date(wait.since).toISOString()}`;
}
