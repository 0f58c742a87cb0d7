/** What `seenWithin` measured: how long the change took to show, and the bound it had to stay within. */
export interface Seen {
  elapsed: number;
  bound: number;
}

/**
 * Reads until `read` says the change shows; the time from `since` (when the change was committed) must stay
 * within the stated `freshnessMs` plus the slack this machine adds now, measured: twice the slowest read's
 * round trip (the read that saw it, and the change's own request) and the poll's pause. Gives up once
 * well past the bound, so a change that never shows fails on the bound, not on a test timeout.
 */
export async function seenWithin(
  freshnessMs: number,
  read: () => Promise<boolean>,
  since: number,
): Promise<Seen> {
  const pollMs = 25;
  let slowestRead = 0;
  for (;;) {
    const sentAt = Date.now();
    const done = await read();
    slowestRead = Math.max(slowestRead, Date.now() - sentAt);
    const elapsed = Date.now() - since;
    const bound = freshnessMs + 2 * slowestRead + pollMs;
    if (done || elapsed > 3 * freshnessMs + bound) return { elapsed, bound };
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
