/**
 * `[BENCH_PORT=3390] npm run bench [-- --runs 3] [-- --only surge|scale-out|reads|cpu|peer|fairness|capacity|key-store] [-- --node PATH] [-- --cpu-prof DIR]`:
 * the opening-second surge against the production build, side by side with this machine's HTTP and database
 * ceilings and with the peer (a Fastify + Redis Lua service) measured in the same run, then the invariants
 * checked in the database; the KST-midnight cap scenario; the scale-out scenario (the same kind of storm
 * against 1, 2 and 3 service processes on one database); the reads (the drop with event-page reads mixed
 * in, against the same drop without, and each read route's storm against /health/live in the same run);
 * CPU time per request by kind against the bare route; and fairness (first come, first served for a crowd
 * behind one address, with the default throttles); and, with `--only capacity`, the capacity model's unit
 * costs (service, Redis, PostgreSQL CPU and WAL per request kind, the key store, memory) and its check
 * against 1, 2 and 3 instances (docs/capacity.md); with `--only key-store`, the key store's part of them
 * alone (the group commit's rows, their purge), on a database of its own. With several runs every figure is the median of
 * the runs. Prints one table and writes bench/results/latest.json. A benchmark, not a test: it asserts no
 * timing, but it fails loudly when an invariant is broken. The scenarios live in bench/scenarios/, what they
 * share in bench/service.ts and bench/support.ts, the table in bench/report.ts.
 */
import { rmSync } from 'node:fs';
import scenario from '../loadtest/scenario.json';
import { Measured, report } from './report';
import { capacityRun, keyStoreCosts } from './scenarios/capacity';
import { cpuRun } from './scenarios/cpu';
import { fairnessRun } from './scenarios/fairness';
import { runMidnightScenario } from './scenarios/midnight';
import { peerRun } from './scenarios/peer';
import { readsRun } from './scenarios/reads';
import { scaleOutRun } from './scenarios/scale-out';
import { surgeRun } from './scenarios/surge';
import { databaseServer, freshDatabase, migratedDatabase, parseOptions } from './service';
import { scratch } from './support';

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const runs = options.scenarios;
  console.log(
    `service, ceiling server and peer on Node ${options.serviceNode} (${options.node}); load client on ${process.version}`,
  );
  const { serverUrl, stopServer } = await databaseServer();
  try {
    const measured: Measured = {
      surge: [],
      scaleOut: [],
      reads: [],
      cpu: [],
      peer: [],
      fairness: [],
      capacity: [],
      keyStore: [],
    };
    for (let run = 1; run <= options.runs; run++) {
      const step = (what: string) => console.log(`\nrun ${run}/${options.runs}: ${what}`);
      if (runs.has('surge')) {
        step('surge, HTTP ceiling, database ceiling, peer');
        const surge = await surgeRun(serverUrl, options);
        measured.surge.push(surge);
        measured.peer.push(surge.peer);
      }
      if (runs.has('peer')) {
        step('peer (the service keyed and unkeyed, then the peer)');
        measured.peer.push(await peerRun(serverUrl, options));
      }
      if (runs.has('scale-out')) {
        step('scale-out');
        measured.scaleOut.push(await scaleOutRun(serverUrl, options));
      }
      if (runs.has('reads')) {
        step('reads (the drop as users make it, the read storm)');
        measured.reads.push(await readsRun(serverUrl, run, options));
      }
      if (runs.has('cpu')) {
        step('CPU per request by kind');
        measured.cpu.push(await cpuRun(serverUrl, options));
      }
      if (runs.has('fairness')) {
        step('fairness (a crowd behind one address, default throttles)');
        measured.fairness.push(await fairnessRun(serverUrl, options, run));
      }
      if (runs.has('capacity')) {
        step('capacity (unit costs, the key store, memory; the model against 1, 2, 3 instances)');
        measured.capacity.push(await capacityRun(serverUrl, options));
      }
      if (runs.has('key-store')) {
        step("key store (the group commit's rows, their purge)");
        measured.keyStore.push(await keyStoreCosts(await migratedDatabase(serverUrl)));
      }
    }
    // In this process, on the bench's own Node (it injects a clock into the app).
    if (runs.has('surge')) {
      measured.midnight = await runMidnightScenario(
        await freshDatabase(serverUrl),
        scenario.midnight,
      );
    }
    report(options, measured);
  } finally {
    await stopServer();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
