import { bashBlockAfter, paste, pasteable, requestOf } from './pasted-blocks';

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
    'GET /events/launch',
    'GET /events',
    'GET /users/42/tickets',
    'PATCH /events/launch',
  ]);
  const [created, ticket, event, running, held, switched] = steps.map(
    (step) => JSON.parse(step.output) as Record<string, unknown>,
  );
  const now = Date.now();
  expect(created).toMatchObject({
    eventKey: 'launch',
    totalQuantity: 2000,
    remainingQuantity: 2000,
  });
  // Open from now until the end of next year, whatever day the README is pasted.
  expect(Date.parse(created.startAt as string)).toBeLessThanOrEqual(now);
  expect(Date.parse(created.endAt as string)).toBeGreaterThan(now + 365 * 24 * 3600 * 1000);
  expect(ticket).toMatchObject({ userId: 42, eventKey: 'launch' });
  expect(event).toMatchObject({ remainingQuantity: 1999, todayIssuedCount: 1, isActive: true });
  expect(running).toEqual([event]);
  expect(held).toEqual([
    {
      ticketId: ticket.ticketId,
      eventKey: 'launch',
      eventName: '런칭 이벤트',
      issuedAt: ticket.issuedAt,
    },
  ]);
  expect(switched).toMatchObject({ eventKey: 'launch', isActive: false });
}
