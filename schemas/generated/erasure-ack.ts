// Generated from schemas/erasure-ack.avsc by scripts/generate-schema-types.mjs. Do not edit.

export type ErasureAck = DevLetheEvents.ErasureAck;

export namespace DevLetheEvents {
    export const AckOutcomeSchema = "{\"type\":\"enum\",\"name\":\"AckOutcome\",\"symbols\":[\"APPLIED\",\"NOTHING_TO_DO\",\"DEFERRED\",\"FAILED\",\"HELD\"],\"doc\":\"HELD: not applied, the subject is under a legal hold for this sink (details: hold, basis, review); a later outcome of the same event supersedes it once the hold is released.\"}";
    export const AckOutcomeName = "dev.lethe.events.AckOutcome";
    /**
     * HELD: not applied, the subject is under a legal hold for this sink (details: hold, basis, review); a later outcome of the same event supersedes it once the hold is released.
     */
    export type AckOutcome = "APPLIED" | "NOTHING_TO_DO" | "DEFERRED" | "FAILED" | "HELD";
    export const ErasureAckSchema = "{\"type\":\"record\",\"name\":\"ErasureAck\",\"namespace\":\"dev.lethe.events\",\"doc\":\"What one sink did for one target of one SubjectErased event. Keyed like the event ('<subjectType>:<subjectId>').\",\"fields\":[{\"name\":\"eventId\",\"type\":\"string\",\"doc\":\"The SubjectErased event acknowledged; for an undecodable record, 'undecodable:<topic>/<partition>/<offset>'.\"},{\"name\":\"subjectType\",\"type\":\"string\"},{\"name\":\"subjectId\",\"type\":\"string\"},{\"name\":\"sink\",\"type\":\"string\",\"doc\":\"The sink's name in the catalog: redis, elasticsearch, bigquery, compacted.\"},{\"name\":\"target\",\"type\":\"string\",\"doc\":\"The target within the sink, e.g. 'key user:{subject}', 'index users', 'topic app.orders'.\"},{\"name\":\"outcome\",\"type\":{\"type\":\"enum\",\"name\":\"AckOutcome\",\"symbols\":[\"APPLIED\",\"NOTHING_TO_DO\",\"DEFERRED\",\"FAILED\",\"HELD\"],\"doc\":\"HELD: not applied, the subject is under a legal hold for this sink (details: hold, basis, review); a later outcome of the same event supersedes it once the hold is released.\"}},{\"name\":\"affected\",\"type\":\"long\",\"doc\":\"Keys, documents, rows or tombstones erased or anonymized.\"},{\"name\":\"residual\",\"type\":\"long\",\"doc\":\"What verification still found of the subject after applying; 0 when clean.\"},{\"name\":\"attempt\",\"type\":\"int\",\"doc\":\"Which attempt this outcome is from, 1-based.\"},{\"name\":\"replay\",\"type\":\"boolean\",\"default\":false,\"doc\":\"Whether this came from `lethe replay` rather than the live consumer group.\"},{\"name\":\"error\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"details\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"default\":{},\"doc\":\"Sink-specific facts, e.g. a compacted topic's delete.retention.ms.\"},{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"When the sink reached this outcome; for one target, the later outcome of a live delivery supersedes the earlier.\"},{\"name\":\"part\",\"type\":\"int\",\"default\":1,\"doc\":\"The part of the SubjectErased event acknowledged (its `part`), 1-based.\"},{\"name\":\"parts\",\"type\":\"int\",\"default\":1,\"doc\":\"How many parts that event has (its `parts`).\"},{\"name\":\"requestId\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"The privacy request the event executed (its `requestId`), when there was one.\"}]}";
    export const ErasureAckName = "dev.lethe.events.ErasureAck";
    /**
     * What one sink did for one target of one SubjectErased event. Keyed like the event ('<subjectType>:<subjectId>').
     */
    export interface ErasureAck {
        /**
         * The SubjectErased event acknowledged; for an undecodable record, 'undecodable:<topic>/<partition>/<offset>'.
         */
        eventId: string;
        subjectType: string;
        subjectId: string;
        /**
         * The sink's name in the catalog: redis, elasticsearch, bigquery, compacted.
         */
        sink: string;
        /**
         * The target within the sink, e.g. 'key user:{subject}', 'index users', 'topic app.orders'.
         */
        target: string;
        outcome: DevLetheEvents.AckOutcome;
        /**
         * Keys, documents, rows or tombstones erased or anonymized.
         */
        affected: number;
        /**
         * What verification still found of the subject after applying; 0 when clean.
         */
        residual: number;
        /**
         * Which attempt this outcome is from, 1-based.
         */
        attempt: number;
        /**
         * Whether this came from `lethe replay` rather than the live consumer group.
         *
         * Default: false
         */
        replay: boolean;
        /**
         * Default: null
         */
        error: null | string;
        /**
         * Sink-specific facts, e.g. a compacted topic's delete.retention.ms.
         *
         * Default: {}
         */
        details: {
            [index: string]: string;
        };
        /**
         * When the sink reached this outcome; for one target, the later outcome of a live delivery supersedes the earlier.
         */
        at: number;
        /**
         * The part of the SubjectErased event acknowledged (its `part`), 1-based.
         *
         * Default: 1
         */
        part: number;
        /**
         * How many parts that event has (its `parts`).
         *
         * Default: 1
         */
        parts: number;
        /**
         * The privacy request the event executed (its `requestId`), when there was one.
         *
         * Default: null
         */
        requestId: null | string;
    }
}

