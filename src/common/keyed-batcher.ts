interface Pending<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export interface KeyedBatcherOptions {
  /** Most items handed to one `processBatch` call. */
  maxBatch: number;
  /** Most items waiting across all keys; past it `submit` fails fast with `overflowError()`. */
  maxQueued: number;
  overflowError: () => Error;
  /**
   * When a batch fails with an error this accepts, what is queued for the same key fails with it at once
   * rather than running into the same fault one batch later (a database that stopped answering).
   */
  failsQueue?: (error: unknown) => boolean;
}

/**
 * Coalesces concurrent work per key: while one batch for a key is being processed, new arrivals for that key
 * queue up and go together in the next batch, in arrival order. An idle key waits only for the current turn
 * of the event loop (setImmediate), so coalescing costs no noticeable latency; under a surge it turns
 * N transactions into N / batch-size.
 */
export class KeyedBatcher<Item, Result> {
  private readonly queues = new Map<string, Array<Pending<Item, Result>>>();
  private readonly drains = new Map<string, Promise<void>>();
  private queued = 0;

  constructor(
    private readonly processBatch: (key: string, items: Item[]) => Promise<Result[]>,
    private readonly options: KeyedBatcherOptions,
  ) {}

  /** Items waiting for a batch, across all keys. */
  get size(): number {
    return this.queued;
  }

  submit(key: string, item: Item): Promise<Result> {
    if (this.queued >= this.options.maxQueued) return Promise.reject(this.options.overflowError());
    return new Promise<Result>((resolve, reject) => {
      const queue = this.queues.get(key) ?? [];
      queue.push({ item, resolve, reject });
      this.queues.set(key, queue);
      this.queued += 1;
      if (!this.drains.has(key)) {
        this.drains.set(
          key,
          this.drain(key).finally(() => this.drains.delete(key)),
        );
      }
    });
  }

  private async drain(key: string): Promise<void> {
    for (;;) {
      // Let the requests that arrived in the same turn of the event loop join this batch.
      await new Promise((resolve) => setImmediate(resolve));
      const queue = this.queues.get(key);
      if (!queue || queue.length === 0) {
        this.queues.delete(key);
        return;
      }
      const batch = queue.splice(0, this.options.maxBatch);
      this.queued -= batch.length;
      try {
        const results = await this.processBatch(
          key,
          batch.map((pending) => pending.item),
        );
        batch.forEach((pending, index) => pending.resolve(results[index]));
      } catch (error) {
        batch.forEach((pending) => pending.reject(error));
        if (this.options.failsQueue?.(error)) {
          const queued = this.queues.get(key)?.splice(0) ?? [];
          this.queued -= queued.length;
          queued.forEach((pending) => pending.reject(error));
        }
      }
    }
  }
}
