import { ExecutionContext, Injectable, Logger, createParamDecorator } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { adminActorOf } from '../auth/admin-auth';
import { toWireTimestamp } from '../common/time';
import type { EventChanges } from './event-rules';
import { CORRECTABLE_FIELDS, CorrectableFields, EventModel } from './event.model';

/** Who asked for an administrative change, from where, in which request. */
export interface AuditedRequest {
  /** The admin token's fingerprint, `gateway` or `open` (AdminAuth). */
  actor: string;
  /** The client's address (as TRUST_PROXY lets it be named). */
  client: string;
  requestId: string;
}

/** The AuditedRequest of a request on an admin route. */
export const AuditedBy = createParamDecorator(
  (_: unknown, context: ExecutionContext): AuditedRequest => {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    return { actor: adminActorOf(request) ?? 'open', client: request.ip, requestId: request.id };
  },
);

type AuditedValue = string | number | boolean | null;

/**
 * The audit lines of event administration, one per committed change (a replay changes nothing and writes
 * none): `audit: { action, eventKey, actor, client, requestId, changes }`, where `changes` holds each field
 * changed as `{ from, to }` (a creation: `to` only). Written after the commit, at info, whatever
 * LOG_REQUESTS says (that setting is about request lines).
 */
@Injectable()
export class EventAudit {
  private readonly logger = new Logger('Audit');

  created(by: AuditedRequest, event: EventModel): void {
    const changes = Object.fromEntries(
      CORRECTABLE_FIELDS.map((field) => [field, { to: audited(event[field]) }]),
    );
    this.write('create', by, event.eventKey, changes, 'event created');
  }

  /** A PATCH that committed: a switch when only isActive changed, a correction otherwise. */
  updated(by: AuditedRequest, before: EventModel, changes: EventChanges): void {
    const fields = Object.keys(changes) as Array<keyof CorrectableFields>;
    const switchOnly = fields.length === 1 && fields[0] === 'isActive';
    const described = Object.fromEntries(
      fields.map((field) => [
        field,
        { from: audited(before[field]), to: audited(changes[field]!) },
      ]),
    );
    if (switchOnly) {
      this.write(
        'switch',
        by,
        before.eventKey,
        described,
        `event switched ${changes.isActive ? 'on' : 'off'}`,
      );
    } else {
      this.write(
        'correct',
        by,
        before.eventKey,
        described,
        fields.length > 0 ? 'event corrected' : 'event correction changed nothing',
      );
    }
  }

  private write(
    action: 'create' | 'switch' | 'correct',
    { actor, client, requestId }: AuditedRequest,
    eventKey: string,
    changes: Record<string, { from?: AuditedValue; to: AuditedValue }>,
    message: string,
  ): void {
    this.logger.log({ audit: { action, eventKey, actor, client, requestId, changes } }, message);
  }
}

/** A field's value as the API writes it (timestamps in the wire format). */
function audited(value: CorrectableFields[keyof CorrectableFields]): AuditedValue {
  return value instanceof Date ? toWireTimestamp(value) : value;
}
