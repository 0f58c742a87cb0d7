import type { TcpProxy } from '../test/support/tcp-proxy';
import { Fault, History } from './history';
import { Prng } from './prng';
import { Instance, RedisServer, sleep } from './system';

export interface Stage {
  history: History;
  instances: Instance[];
  /** Started by the nemesis at `lateAt`, on a database already in use. */
  late: Instance;
  lateAt: number;
  proxy: TcpProxy;
  /** Only a Redis the run started itself is ever stopped. */
  redis?: RedisServer;
}

type Kind = Exclude<Fault['kind'], 'late-start' | 'midnight-kst'>;

/**
 * Faults one at a time, chosen by the seed, from `from` until `until` (run milliseconds), each healed
 * before the next: kill -9 of an instance and its restart, SIGTERM and restart, the database silent
 * behind the proxy or its connections cut, Redis stopped; plus the late instance's first start.
 */
export async function runNemesis(
  stage: Stage,
  rng: Prng,
  from: number,
  until: number,
): Promise<void> {
  const { history } = stage;
  const lateStart = (async () => {
    await sleep(stage.lateAt - history.now());
    const startAt = history.now();
    await stage.late.start();
    history.fault({ kind: 'late-start', target: stage.late.name, startAt, endAt: history.now() });
  })();
  // Awaited at the end; a failure meanwhile must not go unhandled (and end the run without its cleanup).
  lateStart.catch(() => undefined);
  const kinds: Array<readonly [Kind, number]> = [
    ['kill-9', 3],
    ['sigterm', 3],
    ['db-pause', 3],
    ['db-cut', 2],
    ['redis-stop', stage.redis?.owned ? 2 : 0],
  ];
  await sleep(from - history.now());
  while (history.now() < until) {
    const kind = rng.weighted(kinds);
    const startAt = history.now();
    const { target, note } = await inject(stage, rng, kind);
    history.fault({ kind, target, startAt, endAt: history.now(), ...(note ? { note } : {}) });
    await sleep(rng.between(1_000, 4_000));
  }
  await lateStart;
}

async function inject(
  stage: Stage,
  rng: Prng,
  kind: Kind,
): Promise<{ target: string; note?: string }> {
  switch (kind) {
    case 'kill-9':
    case 'sigterm': {
      const instance = rng.pick(stage.instances.filter((candidate) => candidate.running));
      if (kind === 'kill-9') await instance.kill9();
      else await instance.sigterm();
      const downMs = rng.between(300, 3_000);
      await sleep(downMs);
      await instance.start();
      return { target: instance.name, note: `down ${Math.round(downMs)} ms after it stopped` };
    }
    case 'db-pause': {
      const ms = rng.between(1_500, 6_000);
      stage.proxy.pause();
      await sleep(ms);
      stage.proxy.resume();
      return { target: 'postgres', note: `silent ${Math.round(ms)} ms` };
    }
    case 'db-cut': {
      const ms = rng.between(200, 3_000);
      await stage.proxy.stop();
      await sleep(ms);
      await stage.proxy.start();
      return { target: 'postgres', note: `connections cut, refused for ${Math.round(ms)} ms` };
    }
    case 'redis-stop': {
      const ms = rng.between(1_000, 5_000);
      await stage.redis!.stop();
      await sleep(ms);
      await stage.redis!.resume();
      return { target: 'redis', note: `stopped ${Math.round(ms)} ms` };
    }
  }
}

/** Everything up again: the proxy forwarding, Redis answering, every instance ready. */
export async function healAll(stage: Stage): Promise<void> {
  stage.proxy.resume();
  await stage.redis?.resume();
  for (const instance of stage.instances) await instance.start();
}
