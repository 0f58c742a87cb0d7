import { Clock } from '../../src/clock/clock';

/** A clock the test moves by hand. */
export class FakeClock extends Clock {
  private current: number;

  constructor(start: string | Date) {
    super();
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  set(moment: string | Date): void {
    this.current = new Date(moment).getTime();
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
