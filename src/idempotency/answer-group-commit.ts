import { Inject, Injectable } from '@nestjs/common';
import type { Knex } from 'knex';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { ServiceUnavailableError } from '../common/errors/domain-errors';
import { KeyedBatcher } from '../common/keyed-batcher';
import { KNEX } from '../database/database.module';
import { isDatabaseUnavailable } from '../database/pg-errors';
import { CommittedAnswers } from './committed-answers';
import type { StoredResponse } from './idempotency-claim';
import {
  IdempotentRequest,
  KeyRecord,
  Verdict,
  answeredRecord,
  claimTiming,
  judge,
} from './idempotency-rules';
import { IdempotencyRepository } from './idempotency.repository';

/** What became of an answer handed to the group commit. */
export type GroupCommitVerdict =
  /** Committed: this answer is the key's answer. */
  | { kind: 'stored' }
  /** The key was stored already: its answer (a replay), or 422 / 409 in flight. */
  | Exclude<Verdict, { kind: 'claimable' }>
  /** The key is stored, but judge() lets it be replaced (expired, or a claim whose request died). */
  | { kind: 'claimable' };

interface Submitted {
  request: IdempotentRequest;
  response: StoredResponse;
  now: Date;
}

/** Most answers written by one statement. */
const GROUP_MAX = 1_000;

/**
 * Group commit of answers decided without a batch transaction (final refusals, FinalRefusals): no answer to
 * a keyed request leaves the process before its record is committed. The answers that arrive in one turn of
 * the event loop, or while the previous group of the same lane (the event) is being written, are written
 * together by ONE statement (INSERT … ON CONFLICT DO NOTHING, reading back the records already there), so a
 * surge costs one commit per group, not one per request, and each request waits about one commit.
 *
 * A key already stored wins: its answer is replayed, or another request's key is refused 422, exactly as
 * judge() says of the stored record. Answers committed or read here go into CommittedAnswers with their
 * records' own expiry.
 */
@Injectable()
export class AnswerGroupCommit {
  private readonly batcher: KeyedBatcher<Submitted, GroupCommitVerdict>;

  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: IdempotencyRepository,
    private readonly answers: CommittedAnswers,
  ) {
    this.batcher = new KeyedBatcher((_, group) => this.commitGroup(group), {
      maxBatch: GROUP_MAX,
      maxQueued: config.issuance.queueMax,
      overflowError: () => new ServiceUnavailableError(),
      // A silent or unreachable database answers the lane's queue 503 within one query deadline.
      failsQueue: isDatabaseUnavailable,
    });
  }

  /** Commits `response` as the answer to `request`'s key, unless the key holds one already. */
  commit(
    lane: string,
    request: IdempotentRequest,
    response: StoredResponse,
    now: Date,
  ): Promise<GroupCommitVerdict> {
    return this.batcher.submit(lane, { request, response, now });
  }

  private async commitGroup(group: Submitted[]): Promise<GroupCommitVerdict[]> {
    // The first copy of a key in the group is written; later copies are judged against what it then holds.
    const firstOfKey = new Map<string, Submitted>();
    for (const submitted of group) {
      if (!firstOfKey.has(submitted.request.key)) firstOfKey.set(submitted.request.key, submitted);
    }
    const written = [...firstOfKey.values()].map((submitted) => ({
      ...submitted,
      timing: claimTiming(submitted.now, this.config.idempotency),
    }));
    const { inserted, existing } = await this.repository.insertAnswers(this.knex, written);

    const records = new Map<string, KeyRecord>();
    for (const { request, response, timing } of written) {
      if (inserted.has(request.key)) {
        records.set(request.key, answeredRecord(request, response, timing.expiresAt));
      }
    }
    // A key stored here keeps its new record: the snapshot may still show one a purge deleted meanwhile.
    for (const record of existing) {
      if (!inserted.has(record.idempotencyKey)) records.set(record.idempotencyKey, record);
    }
    // Committed by another transaction while this statement waited on it: read it with a fresh snapshot.
    const unseen = written.filter(({ request }) => !records.has(request.key));
    if (unseen.length > 0) {
      const keys = unseen.map(({ request }) => request.key);
      for (const record of await this.repository.findMany(this.knex, keys)) {
        records.set(record.idempotencyKey, record);
      }
    }

    for (const record of records.values()) this.answers.rememberRecord(record, group[0].now);
    const { lockTimeoutSeconds } = this.config.idempotency;
    return group.map((submitted): GroupCommitVerdict => {
      const { key, fingerprint } = submitted.request;
      if (firstOfKey.get(key) === submitted && inserted.has(key)) return { kind: 'stored' };
      // Purged in between (no record): claimable, like an expired one.
      return judge(records.get(key), fingerprint, submitted.now, lockTimeoutSeconds);
    });
  }
}
