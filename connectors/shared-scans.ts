/**
 * SCAN passes shared by the applies that run at once (a sink works several partitions in
 * parallel): a pass asked for while another with the same MATCH is under way waits for it to end
 * and then joins the next one, which every request made meanwhile shares. A pass therefore always
 * starts after its request, so it finds every key that existed from the request to its end and
 * misses none a request's removals left: what one pass of its own would show. A failed pass fails
 * each request sharing it; the next request starts a new one.
 */
export class SharedScans<T> {
  /** Per MATCH: the pass not started yet, which new requests join. */
  private readonly next = new Map<string, Promise<T>>();
  /** Per MATCH: the pass under way. */
  private readonly current = new Map<string, Promise<T>>();

  constructor(private readonly scan: (match: string | Buffer) => Promise<T>) {}

  run(match: string | Buffer): Promise<T> {
    const id = typeof match === 'string' ? `s${match}` : `b${match.toString('latin1')}`;
    const waiting = this.next.get(id);
    if (waiting) return waiting;
    const before = this.current.get(id);
    const start = (): Promise<T> => {
      this.next.delete(id);
      const pass = this.scan(match);
      this.current.set(id, pass);
      const done = () => {
        if (this.current.get(id) === pass) this.current.delete(id);
      };
      pass.then(done, done);
      return pass;
    };
    const pass = before ? before.then(start, start) : start();
    if (before) this.next.set(id, pass);
    return pass;
  }
}
