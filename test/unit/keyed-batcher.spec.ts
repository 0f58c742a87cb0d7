import { KeyedBatcher } from '../../src/common/keyed-batcher';

function recordingBatcher(options: Partial<{ maxBatch: number; maxQueued: number }> = {}) {
  const batches: Array<{ key: string; items: number[] }> = [];
  const batcher = new KeyedBatcher<number, string>(
    (key, items) => {
      batches.push({ key, items });
      if (items.includes(-1)) return Promise.reject(new Error('boom'));
      return Promise.resolve(items.map((item) => `${key}:${item}`));
    },
    {
      maxBatch: options.maxBatch ?? 100,
      maxQueued: options.maxQueued ?? 1_000,
      overflowError: () => new Error('overflow'),
    },
  );
  return { batcher, batches };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyedBatcher', () => {
  it('decides requests that arrive together in one batch, in arrival order, per key', async () => {
    const { batcher, batches } = recordingBatcher();
    const results = await Promise.all([
      batcher.submit('a', 1),
      batcher.submit('b', 10),
      batcher.submit('a', 2),
      batcher.submit('a', 3),
    ]);
    expect(results).toEqual(['a:1', 'b:10', 'a:2', 'a:3']);
    expect(batches).toEqual([
      { key: 'a', items: [1, 2, 3] },
      { key: 'b', items: [10] },
    ]);
  });

  it('never hands more than maxBatch items to one batch', async () => {
    const { batcher, batches } = recordingBatcher({ maxBatch: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((item) => batcher.submit('a', item)));
    expect(batches.map((batch) => batch.items)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails every item of a failed batch, and only those', async () => {
    const { batcher } = recordingBatcher();
    const failed = Promise.allSettled([batcher.submit('a', 1), batcher.submit('a', -1)]);
    expect((await failed).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(batcher.submit('a', 2)).resolves.toBe('a:2');
  });

  it('fails what is queued behind a batch whose error says the fault is shared (failsQueue)', async () => {
    let failFirst!: (error: Error) => void;
    const batches: number[][] = [];
    const batcher = new KeyedBatcher<number, number>(
      (_key, items) => {
        batches.push(items);
        if (batches.length === 1) return new Promise((_, reject) => (failFirst = reject));
        return Promise.resolve(items);
      },
      {
        maxBatch: 100,
        maxQueued: 1_000,
        overflowError: () => new Error('overflow'),
        failsQueue: (error) => (error as Error).message === 'database silent',
      },
    );
    const first = batcher.submit('a', 1);
    await nextTurn();
    const queued = [2, 3].map((item) => batcher.submit('a', item));
    const other = batcher.submit('b', 4);
    failFirst(new Error('database silent'));
    const settled = await Promise.allSettled([first, ...queued, other]);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'fulfilled']);
    // The queued items never ran; the key works again for what comes next.
    expect(batches).toEqual([[1], [4]]);
    await expect(batcher.submit('a', 5)).resolves.toBe(5);
  });

  it('refuses fast past maxQueued', async () => {
    const { batcher } = recordingBatcher({ maxQueued: 2 });
    const accepted = [batcher.submit('a', 1), batcher.submit('a', 2)];
    await expect(batcher.submit('a', 3)).rejects.toThrow('overflow');
    await Promise.all(accepted);
  });

  it('lets requests that arrive while a batch runs go together in the next one', async () => {
    const { batcher, batches } = recordingBatcher();
    const first = batcher.submit('a', 1);
    await nextTurn();
    const rest = [2, 3, 4].map((item) => batcher.submit('a', item));
    await Promise.all([first, ...rest]);
    expect(batches.map((batch) => batch.items)).toEqual([[1], [2, 3, 4]]);
  });
});
