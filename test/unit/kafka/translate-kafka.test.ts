import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { errorKind, LetheError, RecordError, ServiceUnavailableError } from '../../../src/errors.js';
import { translateKafka } from '../../../src/kafka/kafka-client.js';

const { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError } = kafkajs;

/** kafkajs builds protocol errors from its table of error codes (plain objects); its types say Error. */
const protocolError = (entry: { type: string; code: number; retriable: boolean; message: string }) => new KafkaJSProtocolError(entry as unknown as Error);
const tooLarge = () =>
  protocolError({ type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false, message: 'The request included a message larger than the max message size the server will accept' });
const leaderMoved = () => protocolError({ type: 'NOT_LEADER_FOR_PARTITION', code: 6, retriable: true, message: 'This server is not the leader for that topic-partition' });
/** How kafkajs' retrier bails out on a non-retriable error: with a cause its types do not declare. */
const bail = (error: Error) => new (KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error)(error, { cause: error });

describe('translateKafka', () => {
  it('what the broker refuses for good is a non-retriable LetheError naming what was done', () => {
    const error = translateKafka(tooLarge(), 'sending erasures');
    expect(error).not.toBeInstanceOf(ServiceUnavailableError);
    expect(error.code).toBe('KAFKA_REFUSED');
    expect(error.retriable).toBe(false);
    expect(errorKind(error)).toBe('record');
    expect(error.message).toMatch(/^sending erasures: .*larger than the max message size/);
  });

  it('a refusal wrapped by kafkajs retries (run out or bailed) is still a refusal, and says why', () => {
    const exceeded = new KafkaJSNumberOfRetriesExceeded(tooLarge(), { retryCount: 5, retryTime: 100 });
    const error = translateKafka(exceeded, 'sending erasures');
    expect(error.code).toBe('KAFKA_REFUSED');
    expect(errorKind(error)).toBe('record');
    expect(error.cause).toBe(exceeded);
    const bailed = translateKafka(bail(tooLarge()), 'sending erasures');
    expect(bailed.code).toBe('KAFKA_REFUSED');
  });

  it('a broker unreachable, a timeout or a leader election is a wait for kafka', () => {
    for (const raw of [
      new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', { broker: '127.0.0.1:9092', code: 'ECONNREFUSED' }),
      new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out', { broker: 'b:9092', clientId: 'lethe', correlationId: 1, createdAt: 0, sentAt: 0, pendingDuration: 0 }),
      leaderMoved(),
      new Error('socket hang up'),
    ]) {
      const error = translateKafka(raw, 'reading acks');
      expect(error, raw.message).toBeInstanceOf(ServiceUnavailableError);
      expect((error as ServiceUnavailableError).service).toBe('kafka');
      expect(errorKind(error)).toBe('infrastructure');
      expect(error.message).toContain('reading acks: ');
    }
  });

  it('retries run out over a connection error: a wait, with the underlying cause in the message', () => {
    const connection = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9', { broker: '127.0.0.1:9' });
    const error = translateKafka(new KafkaJSNumberOfRetriesExceeded(connection, { retryCount: 5, retryTime: 100 }), 'connecting');
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect((error as ServiceUnavailableError).service).toBe('kafka');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('a LetheError keeps its own verdict', () => {
    const own = new RecordError('X', 'mine');
    expect(translateKafka(own, 'anything')).toBe(own);
    const wait = new LetheError('Y', 'later', { retriable: true });
    expect(translateKafka(wait, 'anything')).toBe(wait);
  });
});
