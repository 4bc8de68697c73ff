import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CatalogIndex } from './catalog-index.js';
import type { DecodedChange, DecodedTransaction } from './decoded-transaction.js';
import type { ErasureManifest } from './erasure-manifest.js';
import {
  contributionsOf,
  ErasureNotReadableError,
  foldContributions,
  requestedContributions,
  truncateWarnings,
  type Contribution,
  type FoldWarning,
  type UnreadableChange,
} from './manifest-builder.js';
import { readRequestMessages } from './request-message.js';
import { LetheError, reasonOf } from '../errors.js';

export interface TransactionFoldOptions {
  /** Contributions kept in memory; past this many, the transaction's are spilled to files. */
  spillAfter: number;
  /** Where the spill files go (a directory of its own is made in it, removed at the end). */
  directory: string;
  /** Named in the spill directory's name (the slot), so a reader's stale cleanup finds its own. */
  owner: string;
  /** Files the spilled contributions are spread over by subject; each is folded on its own. */
  buckets?: number;
}

/** What a transaction came to, besides its manifests (handed out as they are folded). */
export interface FoldSummary {
  subjects: number;
  unattachedRelatedRows: number;
  /** One per code and table: a transaction with a million NULL keys says so once, with its count. */
  warnings: Array<FoldWarning & { count: number }>;
  /** Whether the transaction was large enough to be spilled to files. */
  spilled: boolean;
}

const DEFAULT_BUCKETS = 256;
const SPILL_PREFIX = 'lethe-fold-';

/**
 * Removes spill directories of `owner` (a slot) left in `directory` by reader processes that are
 * gone (killed in the middle of a large transaction: it is read again from the slot, so their
 * files are of no use). Called by the reader that holds the slot, once it streams from it: no other
 * reader can be folding that slot's transactions then, whatever process namespace it runs in. A
 * directory of a process still alive is left alone.
 */
export async function removeStaleSpills(directory: string, owner: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(directory).catch(() => [])) {
    const pid = Number(new RegExp(`^${SPILL_PREFIX}(\\d+)-${owner}-`).exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    await rm(join(directory, name), { recursive: true, force: true });
    removed += 1;
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Folds one transaction as its changes are decoded, in memory bounded by `spillAfter`, however
 * many subjects it erases: a retention purge deleting a million accounts in one statement must not
 * be held whole. Each change is turned into its contributions (manifest-builder.ts) as it arrives;
 * past `spillAfter` contributions they are appended to one of `buckets` files chosen by a hash of
 * their subject, so that every contribution of one subject is in one file. At the commit, each
 * file is folded on its own (a subject's manifest needs only its own contributions) and its
 * manifests handed to `publish`, awaited before the next file is read: memory holds one bucket.
 *
 * A small transaction never touches a file, and its manifests come in one batch in the order
 * foldTransaction gives. A spilled one's come bucket by bucket; their order within a commit means
 * nothing downstream (each is its own erasure, and the slot is confirmed only past the whole
 * commit, by the caller, once every batch is durable).
 */
export class TransactionFold {
  private inMemory: Contribution[] = [];
  private readonly warnings = new Map<string, FoldWarning & { count: number }>();
  private unreadable: UnreadableChange | undefined;
  private dir: string | undefined;
  private readonly buckets: number;
  /** Contributions appended to each bucket file: what reading it back must find. */
  private readonly written: number[];
  private disposed = false;

  constructor(
    private readonly index: CatalogIndex,
    private readonly options: TransactionFoldOptions,
  ) {
    this.buckets = options.buckets ?? DEFAULT_BUCKETS;
    this.written = new Array<number>(this.buckets).fill(0);
  }

  /** Takes one decoded change; returns a promise only when the change made it spill. */
  add(change: DecodedChange): Promise<void> | undefined {
    // After a change that cannot be read the transaction fails at its commit: nothing more to keep.
    if (this.unreadable) return undefined;
    const warnings: FoldWarning[] = [];
    this.unreadable = contributionsOf(change, this.index, this.inMemory, warnings);
    for (const w of warnings) this.warn(w);
    return this.inMemory.length >= this.options.spillAfter ? this.spill() : undefined;
  }

  /**
   * The commit: folds what was gathered, handing manifests to `publish` batch by batch (one batch
   * unless spilled), then removes the spill files. Throws ErasureNotReadableError before
   * publishing anything when a change could not be read.
   */
  async finish(tx: DecodedTransaction, publish: (manifests: ErasureManifest[]) => Promise<void>): Promise<FoldSummary> {
    try {
      if (this.unreadable) throw new ErasureNotReadableError(tx, this.unreadable.change, this.unreadable.subjectType, this.unreadable.columns);
      const request = readRequestMessages(tx.messages);
      const warnings: FoldWarning[] = [];
      const requested = requestedContributions(request, this.index, warnings);
      truncateWarnings(tx, this.index, warnings);
      for (const w of warnings) this.warn(w);
      const summary: FoldSummary = { subjects: 0, unattachedRelatedRows: 0, warnings: [...this.warnings.values()], spilled: this.dir !== undefined };
      const foldAndPublish = async (contributions: Iterable<Contribution>) => {
        const folded = foldContributions(contributions, tx, request.requestId);
        summary.subjects += folded.manifests.length;
        summary.unattachedRelatedRows += folded.unattachedRelatedRows;
        if (folded.manifests.length > 0) await publish(folded.manifests);
      };
      if (!this.dir) {
        await foldAndPublish([...this.inMemory, ...requested]);
        return summary;
      }
      // Requests' subjects go to their buckets after the changes, as foldTransaction takes them.
      for (const c of requested) this.inMemory.push(c);
      await this.spill();
      for (let bucket = 0; bucket < this.buckets; bucket += 1) {
        const contributions = await this.readBucket(bucket);
        if (contributions.length > 0) await foldAndPublish(contributions);
      }
      return summary;
    } finally {
      await this.dispose();
    }
  }

  /** Removes the spill files; the fold can no longer be finished. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.inMemory = [];
    const dir = this.dir;
    this.dir = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  private warn(w: FoldWarning): void {
    const key = `${w.code}\u0000${w.table ?? ''}\u0000${w.subjectType ?? ''}\u0000${w.code === 'SUBJECT_KEY_NULL' ? '' : w.message}`;
    const seen = this.warnings.get(key);
    if (seen) seen.count += 1;
    else this.warnings.set(key, { ...w, count: 1 });
  }

  /** Appends what is in memory to the bucket files, one write per bucket. */
  private async spill(): Promise<void> {
    if (!this.dir) {
      const dir = await mkdtemp(join(this.options.directory, `${SPILL_PREFIX}${process.pid}-${this.options.owner}-`));
      // Disposed meanwhile (the session ended): nothing may be left behind.
      if (this.disposed) return void (await rm(dir, { recursive: true, force: true }));
      this.dir = dir;
    }
    const lines: string[][] = Array.from({ length: this.buckets }, () => []);
    for (const c of this.inMemory) lines[bucketOf(c.subjectType, c.subjectId, this.buckets)]!.push(`${JSON.stringify(c)}\n`);
    this.inMemory = [];
    for (const [bucket, text] of lines.entries()) {
      if (text.length === 0 || this.disposed) continue;
      await appendFile(this.bucketPath(bucket), text.join(''));
      this.written[bucket]! += text.length;
    }
  }

  /**
   * A bucket's contributions, exactly as many as were written to it: a file gone or cut short (a
   * cleaner of the temporary directory) fails the commit, so the slot stays before it, rather than
   * publishing the transaction without some of its subjects.
   */
  private async readBucket(bucket: number): Promise<Contribution[]> {
    if (this.written[bucket] === 0) return [];
    const path = this.bucketPath(bucket);
    const text = await readFile(path, 'utf8').catch((error: unknown) => {
      throw new LetheError('SPILL_LOST', `spill file ${path} of a large transaction could not be read back (${reasonOf(error)}); the transaction is read again from the slot`, { retriable: true, cause: error });
    });
    const contributions = text
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Contribution);
    if (contributions.length !== this.written[bucket]) {
      throw new LetheError('SPILL_LOST', `spill file ${path} holds ${contributions.length} of the ${this.written[bucket]} entries written to it; the transaction is read again from the slot`, { retriable: true });
    }
    return contributions;
  }

  private bucketPath(bucket: number): string {
    return join(this.dir!, `bucket-${bucket}.ndjson`);
  }
}

/** FNV-1a of the subject's type and id, modulo the bucket count. Pure. */
export function bucketOf(subjectType: string, subjectId: string, buckets: number): number {
  let hash = 0x811c9dc5;
  const text = `${subjectType}\u0000${subjectId}`;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % buckets;
}
