import { bashBlockAfter, paste, pasteable, requestOf } from './pasted-blocks';

/** What one call of the block printed: its body (JSON, when it printed one) and its status. */
interface Answer {
  status: number;
  body: unknown;
  printed: string;
}

/** A call prints its body, then its status on a line of its own; a call that prints no body, its status first. */
function answerOf(output: string): Answer {
  const lines = output.trimEnd().split('\n');
  const last = lines[lines.length - 1];
  if (lines.length === 1)
    return { status: Number(last.split(' ')[0]), body: undefined, printed: last };
  return {
    status: Number(last),
    body: JSON.parse(lines.slice(0, -1).join('\n')) as unknown,
    printed: output,
  };
}

/**
 * Pastes the README's "The API in brief" block against the service at `url` (only the port changes) and
 * checks every answer against what its comments say. The README test runs it against the service as
 * `npm start` runs it; the compose test against the environment docker-compose.yml gives the app.
 */
export function expectApiInBriefAnswers(url: string): void {
  const steps = paste(pasteable(bashBlockAfter('README.md', '## The API in brief'), url));
  expect(steps.map((step) => requestOf(step.command))).toEqual([
    'POST /events',
    'POST /events/launch/tickets',
    'POST /events/launch/tickets',
    'POST /events/launch/tickets',
    'GET /events/launch',
    'GET /events',
    'GET /users/42/tickets',
    'PATCH /events/launch',
    'PATCH /events/launch',
    'POST /events/launch/tickets',
  ]);
  const answers = steps.map((step) => answerOf(step.output));
  const [created, ticket, resent, repeated, event, running, held, corrected, switched, refused] =
    answers;
  expect(answers.map((answer) => answer.status)).toEqual([
    201, 201, 201, 200, 200, 200, 200, 200, 200, 400,
  ]);

  const now = Date.now();
  const createdEvent = created.body as Record<string, unknown>;
  expect(createdEvent).toMatchObject({
    eventKey: 'launch',
    totalQuantity: 2000,
    remainingQuantity: 2000,
  });
  // Open from now until the end of next year, whatever day the README is pasted.
  expect(Date.parse(createdEvent.startAt as string)).toBeLessThanOrEqual(now);
  expect(Date.parse(createdEvent.endAt as string)).toBeGreaterThan(now + 365 * 24 * 3600 * 1000);

  const issued = ticket.body as Record<string, unknown>;
  expect(issued).toMatchObject({ userId: 42, eventKey: 'launch' });
  expect(resent.printed).toBe('201 Idempotent-Replayed: true');
  expect(repeated.body).toEqual(issued);
  expect(event.body).toMatchObject({
    remainingQuantity: 1999,
    todayIssuedCount: 1,
    isActive: true,
  });
  expect(running.body).toEqual([event.body]);
  expect(held.body).toEqual([
    {
      ticketId: issued.ticketId,
      eventKey: 'launch',
      eventName: '런칭 이벤트',
      issuedAt: issued.issuedAt,
    },
  ]);
  expect(corrected.body).toMatchObject({
    eventKey: 'launch',
    name: '런칭 이벤트 (수정)',
    totalQuantity: 2500,
    remainingQuantity: 2499,
  });
  expect(switched.body).toMatchObject({ eventKey: 'launch', totalQuantity: 2500, isActive: false });
  expect(refused.body).toEqual({ statusCode: 400, message: '현재 발급이 중단된 이벤트입니다.' });
}
