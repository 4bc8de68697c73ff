// Generated from schemas/subject-erased.avsc by scripts/generate-schema-types.mjs. Do not edit.

export type SubjectErased = DevLetheEvents.SubjectErased;

export namespace DevLetheEvents {
    export const KeyColumnSchema = "{\"type\":\"record\",\"name\":\"KeyColumn\",\"fields\":[{\"name\":\"column\",\"type\":\"string\"},{\"name\":\"value\",\"type\":\"string\",\"doc\":\"The column's value in PostgreSQL's text representation.\"}]}";
    export const KeyColumnName = "dev.lethe.events.KeyColumn";
    export interface KeyColumn {
        column: string;
        /**
         * The column's value in PostgreSQL's text representation.
         */
        value: string;
    }
    export const ErasureOperationSchema = "{\"type\":\"enum\",\"name\":\"ErasureOperation\",\"symbols\":[\"DELETE\",\"ANONYMIZE\"]}";
    export const ErasureOperationName = "dev.lethe.events.ErasureOperation";
    export type ErasureOperation = "DELETE" | "ANONYMIZE";
    export const RowOperationSchema = "{\"type\":\"enum\",\"name\":\"RowOperation\",\"symbols\":[\"DELETE\",\"UPDATE\"]}";
    export const RowOperationName = "dev.lethe.events.RowOperation";
    export type RowOperation = "DELETE" | "UPDATE";
    export const RelatedRowSchema = "{\"type\":\"record\",\"name\":\"RelatedRow\",\"fields\":[{\"name\":\"table\",\"type\":\"string\",\"doc\":\"Schema-qualified table of the row.\"},{\"name\":\"key\",\"type\":{\"type\":\"array\",\"items\":\"KeyColumn\"},\"doc\":\"The row's primary key (or replica identity) columns and values.\"},{\"name\":\"operation\",\"type\":{\"type\":\"enum\",\"name\":\"RowOperation\",\"symbols\":[\"DELETE\",\"UPDATE\"]}}]}";
    export const RelatedRowName = "dev.lethe.events.RelatedRow";
    export interface RelatedRow {
        /**
         * Schema-qualified table of the row.
         */
        table: string;
        /**
         * The row's primary key (or replica identity) columns and values.
         */
        key: DevLetheEvents.KeyColumn[];
        operation: DevLetheEvents.RowOperation;
    }
    export const SubjectErasedSchema = "{\"type\":\"record\",\"name\":\"SubjectErased\",\"namespace\":\"dev.lethe.events\",\"doc\":\"A data subject was erased (deleted or anonymized) in the primary database. Keyed on Kafka by '<subjectType>:<subjectId>' so one subject's events stay in order. Carries keys and ids only, never the erased personal data.\",\"fields\":[{\"name\":\"eventId\",\"type\":\"string\",\"doc\":\"Stable across redelivery: derived from the commit LSN, the subject type and the subject id. Consumers deduplicate on it.\"},{\"name\":\"subjectType\",\"type\":\"string\",\"doc\":\"The catalog's subject type, e.g. 'user'.\"},{\"name\":\"subjectId\",\"type\":\"string\",\"doc\":\"The subject's key values in key-column order, each percent-encoded, joined by '/'.\"},{\"name\":\"subjectKey\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"KeyColumn\",\"fields\":[{\"name\":\"column\",\"type\":\"string\"},{\"name\":\"value\",\"type\":\"string\",\"doc\":\"The column's value in PostgreSQL's text representation.\"}]}},\"doc\":\"The subject's key columns and values, in the catalog's key order.\"},{\"name\":\"operation\",\"type\":{\"type\":\"enum\",\"name\":\"ErasureOperation\",\"symbols\":[\"DELETE\",\"ANONYMIZE\"]}},{\"name\":\"sourceTable\",\"type\":\"string\",\"doc\":\"The subject's root table, schema-qualified.\"},{\"name\":\"commitLsn\",\"type\":\"string\",\"doc\":\"LSN of the commit record of the erasing transaction, as PostgreSQL prints it (e.g. 0/1A2B3C8).\"},{\"name\":\"commitTime\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"xid\",\"type\":\"long\",\"doc\":\"The erasing transaction's id.\"},{\"name\":\"requestId\",\"type\":[\"null\",\"string\"],\"default\":null,\"doc\":\"The erasure request this transaction executed, when it said so with pg_logical_emit_message(true, 'lethe', '{\\\"requestId\\\":...}').\"},{\"name\":\"related\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"RelatedRow\",\"fields\":[{\"name\":\"table\",\"type\":\"string\",\"doc\":\"Schema-qualified table of the row.\"},{\"name\":\"key\",\"type\":{\"type\":\"array\",\"items\":\"KeyColumn\"},\"doc\":\"The row's primary key (or replica identity) columns and values.\"},{\"name\":\"operation\",\"type\":{\"type\":\"enum\",\"name\":\"RowOperation\",\"symbols\":[\"DELETE\",\"UPDATE\"]}}]}},\"doc\":\"Rows of catalogued related tables erased in the same transaction (cascades included), so sinks can erase by exact id.\"},{\"name\":\"emittedAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"},\"doc\":\"When the CDC reader produced this event (not stable across redelivery).\"},{\"name\":\"part\",\"type\":\"int\",\"default\":1,\"doc\":\"Which part of the erasure this event is, 1-based. An erasure whose manifest would exceed kafka.maxMessageBytes is sent as several events with the same eventId, each with a slice of `related`; every other field is the same in each part.\"},{\"name\":\"parts\",\"type\":\"int\",\"default\":1,\"doc\":\"How many parts the erasure was sent as; the erasure is done at a sink once every part 1..parts is.\"}]}";
    export const SubjectErasedName = "dev.lethe.events.SubjectErased";
    /**
     * A data subject was erased (deleted or anonymized) in the primary database. Keyed on Kafka by '<subjectType>:<subjectId>' so one subject's events stay in order. Carries keys and ids only, never the erased personal data.
     */
    export interface SubjectErased {
        /**
         * Stable across redelivery: derived from the commit LSN, the subject type and the subject id. Consumers deduplicate on it.
         */
        eventId: string;
        /**
         * The catalog's subject type, e.g. 'user'.
         */
        subjectType: string;
        /**
         * The subject's key values in key-column order, each percent-encoded, joined by '/'.
         */
        subjectId: string;
        /**
         * The subject's key columns and values, in the catalog's key order.
         */
        subjectKey: DevLetheEvents.KeyColumn[];
        operation: DevLetheEvents.ErasureOperation;
        /**
         * The subject's root table, schema-qualified.
         */
        sourceTable: string;
        /**
         * LSN of the commit record of the erasing transaction, as PostgreSQL prints it (e.g. 0/1A2B3C8).
         */
        commitLsn: string;
        commitTime: number;
        /**
         * The erasing transaction's id.
         */
        xid: number;
        /**
         * The erasure request this transaction executed, when it said so with pg_logical_emit_message(true, 'lethe', '{"requestId":...}').
         *
         * Default: null
         */
        requestId: null | string;
        /**
         * Rows of catalogued related tables erased in the same transaction (cascades included), so sinks can erase by exact id.
         */
        related: DevLetheEvents.RelatedRow[];
        /**
         * When the CDC reader produced this event (not stable across redelivery).
         */
        emittedAt: number;
        /**
         * Which part of the erasure this event is, 1-based. An erasure whose manifest would exceed kafka.maxMessageBytes is sent as several events with the same eventId, each with a slice of `related`; every other field is the same in each part.
         *
         * Default: 1
         */
        part: number;
        /**
         * How many parts the erasure was sent as; the erasure is done at a sink once every part 1..parts is.
         *
         * Default: 1
         */
        parts: number;
    }
}

