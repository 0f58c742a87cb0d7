import { Clock } from './clock';

/** A clock moved by hand: the tests and the benchmark's midnight scenario cross KST days with it. */
export class ManualClock extends Clock {
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
