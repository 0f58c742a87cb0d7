/**
 * The daily cap across KST midnight, with an injected clock: the app runs in-process with a ManualClock;
 * a storm of distinct users is fired, and halfway through the clock moves from 23:59:59 KST to 00:00:00 KST.
 * The cap must be reached on each side and reset exactly once.
 */
import knexFactory from 'knex';
import { ManualClock } from '../../src/clock/manual-clock';
import { loadConfig } from '../../src/config/config';
import { buildKnexConfig } from '../../src/database/knex-config';
import { bootApp } from '../../test/support/boot-app';
import { postEvent } from '../support';

export async function runMidnightScenario(
  databaseUrl: string,
  numbers: { users: number; dailyLimit: number; connections: number },
) {
  const config = loadConfig({
    NODE_ENV: 'production',
    ADMIN_AUTH: 'disabled',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    THROTTLE_IP_LIMIT: '100000000',
    DOCS_UI: 'false',
  });
  const clock = new ManualClock('2026-03-10T14:59:59Z'); // 23:59:59 KST
  const app = await bootApp(config, clock);
  const baseUrl = await app.getUrl();
  const knex = knexFactory(buildKnexConfig({ url: databaseUrl, poolMin: 0, poolMax: 2 }));
  try {
    const eventKey = `midnight-${Date.now()}`;
    await postEvent(baseUrl, {
      eventKey,
      name: '자정 시나리오',
      totalQuantity: numbers.dailyLimit * 10,
      dailyLimit: numbers.dailyLimit,
      startAt: '2026-03-01T00:00:00Z',
      endAt: '2026-03-31T00:00:00Z',
    });
    let sent = 0;
    const issue = async (userId: number) => {
      sent += 1;
      if (sent === Math.floor(numbers.users / 2)) clock.set('2026-03-10T15:00:00Z'); // 00:00:00 KST
      const response = await fetch(`${baseUrl}/events/${eventKey}/tickets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId }),
      });
      return response.status;
    };
    let nextUser = 1;
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: numbers.connections }, async () => {
        while (nextUser <= numbers.users) statuses.push(await issue(nextUser++));
      }),
    );
    const days: Array<{ day: string; issuedCount: number }> = await knex('eventDailyCounts')
      .join('events', 'events.id', 'eventDailyCounts.eventId')
      .where('events.eventKey', eventKey)
      .orderBy('kstDay')
      .select(knex.raw("to_char(kst_day, 'YYYY-MM-DD') as day"), 'eventDailyCounts.issuedCount');
    const problems: string[] = [];
    if (days.length !== 2) problems.push(`${days.length} service days counted, expected 2`);
    for (const { day, issuedCount } of days) {
      if (issuedCount !== numbers.dailyLimit)
        problems.push(`${day}: ${issuedCount} issued, cap ${numbers.dailyLimit}`);
    }
    // In process, over fetch (which throws on a request without an answer): a 5xx is the one thing to see.
    const serverErrors = statuses.filter((status) => status >= 500).length;
    if (serverErrors > 0) problems.push(`${serverErrors} answers were 5xx`);
    const issued = statuses.filter((status) => status === 201).length;
    if (issued !== numbers.dailyLimit * 2)
      problems.push(`${issued} answered 201, expected ${numbers.dailyLimit * 2}`);
    return { ok: problems.length === 0, problems, days, issued, requests: statuses.length };
  } finally {
    await knex.destroy();
    await app.close();
  }
}
