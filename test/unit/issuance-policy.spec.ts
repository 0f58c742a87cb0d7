import { EventModel } from '../../src/events/event.model';
import { decideIssuance, HeldTicket } from '../../src/tickets/issuance-policy';

function event(overrides: Partial<EventModel> = {}): EventModel {
  return EventModel.fromJson(
    {
      id: 1,
      eventKey: 'e',
      name: 'e',
      totalQuantity: 3,
      dailyLimit: null,
      issuedCount: 0,
      isActive: true,
      startAt: new Date('2026-03-01T00:00:00Z'),
      endAt: new Date('2026-03-31T00:00:00Z'),
      createdAt: new Date('2026-02-01T00:00:00Z'),
      ...overrides,
    },
    { skipValidation: true },
  );
}

const NOW = new Date('2026-03-10T00:00:00Z');
const held = (userId: number): HeldTicket => ({ ticketId: `t${userId}`, userId, issuedAt: NOW });

describe('decideIssuance', () => {
  it('serves arrivals in order until the total runs out', () => {
    const kinds = decideIssuance(
      event(),
      { held: new Map(), issuedToday: 0 },
      [1, 2, 3, 4],
      NOW,
    ).map((d) => d.kind);
    expect(kinds).toEqual(['issued', 'issued', 'issued', 'refused']);
  });

  it('gives a user repeated within one batch the ticket issued to its first copy', () => {
    const [first, second] = decideIssuance(
      event(),
      { held: new Map(), issuedToday: 0 },
      [5, 5],
      NOW,
    );
    expect(first.kind).toBe('issued');
    expect(second.kind).toBe('already-held');
    expect(second.kind !== 'refused' && first.kind !== 'refused' && second.ticket).toBe(
      first.kind !== 'refused' && first.ticket,
    );
  });

  it('returns a held ticket even when sold out, capped, switched off and closed', () => {
    const decisions = decideIssuance(
      event({
        issuedCount: 3,
        dailyLimit: 1,
        isActive: false,
        endAt: new Date('2026-03-02T00:00:00Z'),
      }),
      { held: new Map([[9, held(9)]]), issuedToday: 1 },
      [9],
      NOW,
    );
    expect(decisions).toEqual([{ kind: 'already-held', ticket: held(9) }]);
  });

  it.each([
    [{ isActive: false }, 0, '현재 발급이 중단된 이벤트입니다.'],
    [{ startAt: new Date('2026-03-11T00:00:00Z') }, 0, '이벤트 기간이 아닙니다.'],
    [{ issuedCount: 3 }, 0, '티켓이 모두 소진되었습니다.'],
    [{ dailyLimit: 2 }, 2, '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.'],
  ])('refuses %j (issued today %d) with the spec message', (overrides, issuedToday, message) => {
    const [decision] = decideIssuance(event(overrides), { held: new Map(), issuedToday }, [1], NOW);
    expect(decision.kind === 'refused' && decision.error.message).toBe(message);
  });
});
