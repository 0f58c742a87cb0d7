import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';

const SCRAPE = 'golden-ticket:scrape';
const SCRAPED = 'golden-ticket:scraped';
/** prom-client gives up on a silent worker after 5 s; the asking worker waits a little longer. */
const SCRAPE_TIMEOUT_MS = 6_000;

interface ScrapeMessage {
  type: typeof SCRAPE;
  id: number;
}
interface ScrapedMessage {
  type: typeof SCRAPED;
  id: number;
  text?: string;
  error?: string;
}

/**
 * In the cluster primary: answers a worker's request for the whole tree's metrics with prom-client's
 * aggregation of every worker's registry (counters and histograms summed, gauges as each declares).
 */
export function serveClusterScrapes(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: ScrapeMessage) => {
    if (message?.type !== SCRAPE) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: SCRAPED, id: message.id, text } satisfies ScrapedMessage),
      (error: Error) =>
        worker.send({
          type: SCRAPED,
          id: message.id,
          error: error.message,
        } satisfies ScrapedMessage),
    );
  });
}

let nextId = 0;

/** In a worker: the metrics of the whole process tree, from the primary. */
export function scrapeWholeCluster(): Promise<string> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (message: ScrapedMessage) => {
      if (message?.type !== SCRAPED || message.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      if (message.text !== undefined) resolve(message.text);
      else reject(new Error(message.error ?? 'no metrics'));
    };
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error('the cluster primary did not answer the scrape'));
    }, SCRAPE_TIMEOUT_MS);
    process.on('message', onMessage);
    process.send!({ type: SCRAPE, id } satisfies ScrapeMessage);
  });
}
