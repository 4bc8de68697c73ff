import type { KafkaMessage } from 'kafkajs';
import type { SubjectErased } from '../src/cdc/erasure-manifest.js';
import { errorKind, reasonOf } from '../src/errors.js';
import type { EventCodec } from '../src/events/event-codec.js';
import type { ChunkItem } from './chunk-outcome.js';

/**
 * Decodes a chunk. A record's own decoding fault marks that record; the registry being away throws
 * for the whole chunk, so the runner waits for it instead of dead-lettering good records.
 */
export async function decodeAll(codec: EventCodec<SubjectErased>, chunk: KafkaMessage[], topic: string, partition: number): Promise<ChunkItem[]> {
  return Promise.all(
    chunk.map(async (message): Promise<ChunkItem> => {
      try {
        if (!message.value) return { message, topic, partition, decodeError: 'empty value' };
        return { message, topic, partition, event: await codec.decode(message.value) };
      } catch (error) {
        if (errorKind(error) !== 'record') throw error;
        return { message, topic, partition, decodeError: reasonOf(error) };
      }
    }),
  );
}
