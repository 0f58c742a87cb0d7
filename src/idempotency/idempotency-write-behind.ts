import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { Knex } from 'knex';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { KNEX } from '../database/database.module';
import type { StoredResponse } from './idempotency-claim';
import {
  IdempotentRequest,
  KeyRecord,
  RequestFingerprint,
  Verdict,
  claimTiming,
  fingerprintOfRecord,
  judge,
  storedAnswerOf,
} from './idempotency-rules';
import { IdempotencyRepository } from './idempotency.repository';

/** A complete answer of a key, as this process gave it or read it. */
interface Remembered {
  fingerprint: RequestFingerprint;
  response: StoredResponse;
  expiresAt: Date;
}

interface Pending {
  key: string;
  fingerprint: RequestFingerprint;
  response: StoredResponse;
  answeredAt: Date;
}

/** Most answers written by one statement. */
const FLUSH_BATCH = 1_000;

/**
 * Idempotency-Keys answered without the database. Each process remembers the complete answers of keys it
 * gave or stored (up to IDEMPOTENCY_MEMORY_KEYS, oldest forgotten first): a complete answer never changes
 * before it expires, so a retransmission gets the same status and body bytes from memory, and a reuse for
 * another request is refused 422 — both judged by the same rules as a stored key (judge()).
 *
 * Answers given from memory (final refusals, FinalRefusals) are written behind: in bulk, every
 * IDEMPOTENCY_WRITE_BEHIND_MS, off the request path, and remembered once written. A key that turns out to
 * be stored already is judged against what is stored, and this process then remembers the stored answer
 * (the database's word wins: a key another process stored for another request is 422 here from then on).
 * A record lost in a crash before its write loses nothing but the Idempotent-Replayed header: the answer
 * it recorded is final (sold out for good; today's cap until 00:00 KST), so a retransmission is given the
 * same answer again — unless the day turned, the event ended or was switched off in between.
 */
@Injectable()
export class IdempotencyWriteBehind implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Idempotency');
  private readonly remembered = new Map<string, Remembered>();
  private pending: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: IdempotencyRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.flush(), this.config.idempotency.writeBehindMs);
    this.timer.unref();
  }

  /** Writes what is pending before the pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /**
   * The verdict on a key from memory: a replay or a refusal (422) when this process knows its answer;
   * undefined when it does not (or the answer expired), for the database to judge.
   */
  recall(
    { key, fingerprint }: IdempotentRequest,
    now: Date,
  ): Exclude<Verdict, { kind: 'claimable' }> | undefined {
    const known = this.remembered.get(key);
    if (!known) return undefined;
    const verdict = judge(asRecord(key, known), fingerprint, now, 0);
    if (verdict.kind === 'claimable') {
      this.remembered.delete(key);
      return undefined;
    }
    return verdict;
  }

  /** Remembers an answer that is stored already (issuance stores its keys in its own transaction). */
  remember({ key, fingerprint }: IdempotentRequest, response: StoredResponse, now: Date): void {
    const { expiresAt } = claimTiming(now, this.config.idempotency);
    this.remembered.delete(key);
    this.remembered.set(key, { fingerprint, response, expiresAt });
    if (this.remembered.size > this.config.idempotency.memoryKeys) {
      this.remembered.delete(this.remembered.keys().next().value!);
    }
  }

  /**
   * Writes an answer given from memory behind. It is remembered only once written: until then the key may
   * turn out to be stored already for another request, and that stored answer is the one to give.
   */
  writeBehind(request: IdempotentRequest, response: StoredResponse, now: Date): void {
    this.pending.push({ ...request, response, answeredAt: now });
    // Bounded while the database is away: the oldest unwritten records go first (only their header).
    if (this.pending.length > this.config.idempotency.memoryKeys) this.pending.shift();
    if (this.pending.length >= FLUSH_BATCH) void this.flush();
  }

  /** Writes what is pending; one flush at a time, the rest on the next tick. */
  flush(): Promise<void> {
    if (this.flushing || this.pending.length === 0) return this.flushing ?? Promise.resolve();
    this.flushing = this.writePending().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    while (this.pending.length > 0) {
      const taken = this.pending.splice(0, FLUSH_BATCH);
      // A key answered twice before this write: its first answer is the one the key stands for.
      const firstOfEach = new Map<string, Pending>();
      for (const pending of taken)
        if (!firstOfEach.has(pending.key)) firstOfEach.set(pending.key, pending);
      const batch = [...firstOfEach.values()];
      try {
        const existing = new Set(
          await this.repository.insertAnswers(
            this.knex,
            batch,
            this.config.idempotency.ttlSeconds,
            batch.map((p) => p.answeredAt),
          ),
        );
        for (const written of batch) {
          if (!existing.has(written.key)) {
            this.remember(written, written.response, written.answeredAt);
          }
        }
        if (existing.size > 0) {
          await this.reconcile(batch.filter((pending) => existing.has(pending.key)));
        }
      } catch (error) {
        // The database is away: try again on the next tick.
        this.pending.unshift(...taken);
        this.logger.warn({ err: error, pending: this.pending.length }, 'answers not written yet');
        return;
      }
    }
  }

  /** Keys that were stored already: the stored answer wins, unless judge() says it may be replaced. */
  private async reconcile(stored: Pending[]): Promise<void> {
    const ours = new Map(stored.map((pending) => [pending.key, pending]));
    for (const record of await this.repository.findMany(this.knex, [...ours.keys()])) {
      const mine = ours.get(record.idempotencyKey)!;
      const verdict = judge(
        record,
        mine.fingerprint,
        mine.answeredAt,
        this.config.idempotency.lockTimeoutSeconds,
      );
      const answer = storedAnswerOf(record);
      if (verdict.kind === 'claimable') {
        const timing = claimTiming(mine.answeredAt, this.config.idempotency);
        const replaced = await this.repository.replaceWithAnswer(
          this.knex,
          record,
          mine.fingerprint,
          timing,
          mine.response,
        );
        if (replaced) this.remember(mine, mine.response, mine.answeredAt);
      } else if (answer) {
        const { expiresAt } = record;
        this.remembered.set(record.idempotencyKey, {
          fingerprint: fingerprintOfRecord(record),
          response: answer,
          expiresAt,
        });
      }
      // Otherwise another request holds the key right now; its own answer will be stored.
    }
  }
}

function asRecord(key: string, known: Remembered): KeyRecord {
  return {
    idempotencyKey: key,
    ...known.fingerprint,
    lockedAt: null,
    responseStatus: known.response.status,
    responseHeaders: known.response.headers,
    responseBody: known.response.body,
    expiresAt: known.expiresAt,
  };
}
