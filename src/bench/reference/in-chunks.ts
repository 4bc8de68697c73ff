/** What a reference script did: its time, and the store's own counts. */
export interface ReferenceResult {
  seconds: number;
  affected: number;
  residual: number;
}

/**
 * Runs `work` over the ids in chunks of `chunk`, `concurrency` chunks at a time (what the sink
 * does with its partitions in parallel: a person would not leave the store idle either), and
 * sums what each chunk found.
 */
export async function inChunks(
  ids: readonly string[],
  chunk: number,
  concurrency: number,
  work: (slice: string[]) => Promise<{ affected: number; residual: number }>,
): Promise<ReferenceResult> {
  const started = Date.now();
  const slices: string[][] = [];
  for (let i = 0; i < ids.length; i += chunk) slices.push(ids.slice(i, i + chunk));
  const total = { affected: 0, residual: 0 };
  let next = 0;
  const worker = async () => {
    while (next < slices.length) {
      const found = await work(slices[next++]!);
      total.affected += found.affected;
      total.residual += found.residual;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return { seconds: (Date.now() - started) / 1000, ...total };
}
