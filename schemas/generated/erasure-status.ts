// Generated from schemas/erasure-status.avsc by scripts/generate-schema-types.mjs. Do not edit.

export type ErasureStatusChanged = DevLetheEvents.ErasureStatusChanged;

export namespace DevLetheEvents {
    export const ErasureStateSchema = "{\"type\":\"enum\",\"name\":\"ErasureState\",\"symbols\":[\"PENDING\",\"PARTIAL\",\"COMPLETE\",\"FAILED\",\"DEFERRED\",\"OVERDUE\",\"HELD\"]}";
    export const ErasureStateName = "dev.lethe.events.ErasureState";
    export type ErasureState = "PENDING" | "PARTIAL" | "COMPLETE" | "FAILED" | "DEFERRED" | "OVERDUE" | "HELD";
    export const TargetStatusSchema = "{\"type\":\"record\",\"name\":\"TargetStatus\",\"fields\":[{\"name\":\"kind\",\"type\":\"string\",\"doc\":\"sink, manual or backup.\"},{\"name\":\"sink\",\"type\":\"string\"},{\"name\":\"target\",\"type\":\"string\"},{\"name\":\"state\",\"type\":\"string\",\"doc\":\"pending, applied, nothing_to_do, deferred, failed, held, confirmed, retained or expired.\"},{\"name\":\"affected\",\"type\":\"long\"},{\"name\":\"residual\",\"type\":\"long\"},{\"name\":\"at\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"error\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"heldUntil\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null,\"doc\":\"For a backup: until when it holds the subject's data.\"}]}";
    export const TargetStatusName = "dev.lethe.events.TargetStatus";
    export interface TargetStatus {
        /**
         * sink, manual or backup.
         */
        kind: string;
        sink: string;
        target: string;
        /**
         * pending, applied, nothing_to_do, deferred, failed, held, confirmed, retained or expired.
         */
        state: string;
        affected: number;
        residual: number;
        /**
         * Default: null
         */
        at: null | number;
        /**
         * Default: null
         */
        error: null | string;
        /**
         * For a backup: until when it holds the subject's data.
         *
         * Default: null
         */
        heldUntil: null | number;
    }
    export const ErasureStatusChangedSchema = "{\"type\":\"record\",\"name\":\"ErasureStatusChanged\",\"namespace\":\"dev.lethe.events\",\"doc\":\"The tracker's status of one erasure after a change, on a compacted topic keyed by the erasure (event) id: the latest record per key is the current status. Keys and counts only, never personal data.\",\"fields\":[{\"name\":\"eventId\",\"type\":\"string\"},{\"name\":\"subjectType\",\"type\":\"string\"},{\"name\":\"subjectId\",\"type\":\"string\"},{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"ErasureState\",\"symbols\":[\"PENDING\",\"PARTIAL\",\"COMPLETE\",\"FAILED\",\"DEFERRED\",\"OVERDUE\",\"HELD\"]}},{\"name\":\"known\",\"type\":\"boolean\",\"doc\":\"False while only acks have been read, not the erasure event itself.\"},{\"name\":\"commitTime\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"dueAt\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"completedAt\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"targets\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"TargetStatus\",\"fields\":[{\"name\":\"kind\",\"type\":\"string\",\"doc\":\"sink, manual or backup.\"},{\"name\":\"sink\",\"type\":\"string\"},{\"name\":\"target\",\"type\":\"string\"},{\"name\":\"state\",\"type\":\"string\",\"doc\":\"pending, applied, nothing_to_do, deferred, failed, held, confirmed, retained or expired.\"},{\"name\":\"affected\",\"type\":\"long\"},{\"name\":\"residual\",\"type\":\"long\"},{\"name\":\"at\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null},{\"name\":\"error\",\"type\":[\"null\",\"string\"],\"default\":null},{\"name\":\"heldUntil\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}],\"default\":null,\"doc\":\"For a backup: until when it holds the subject's data.\"}]}}},{\"name\":\"updatedAt\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}";
    export const ErasureStatusChangedName = "dev.lethe.events.ErasureStatusChanged";
    /**
     * The tracker's status of one erasure after a change, on a compacted topic keyed by the erasure (event) id: the latest record per key is the current status. Keys and counts only, never personal data.
     */
    export interface ErasureStatusChanged {
        eventId: string;
        subjectType: string;
        subjectId: string;
        status: DevLetheEvents.ErasureState;
        /**
         * False while only acks have been read, not the erasure event itself.
         */
        known: boolean;
        /**
         * Default: null
         */
        commitTime: null | number;
        /**
         * Default: null
         */
        dueAt: null | number;
        /**
         * Default: null
         */
        completedAt: null | number;
        targets: DevLetheEvents.TargetStatus[];
        updatedAt: number;
    }
}

