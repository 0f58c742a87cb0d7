const KST_OFFSET_MS = 9 * 60 * 60 * 1000;

/** ISO-8601 with a zone (Z or ±hh:mm); seconds and fractions optional. */
const ZONED_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/** Whether `text` has the form of a timestamp with its zone, possible or not (`2026-02-30T00:00:00Z` has). */
export function hasZonedTimestampForm(text: string): boolean {
  return ZONED_TIMESTAMP.test(text);
}

/**
 * Parses a timestamp that carries its zone; undefined for anything else, including impossible calendar
 * values (`2026-02-30`, `24:00`) that `Date` would silently roll over.
 */
export function parseZonedTimestamp(text: string): Date | undefined {
  const match = ZONED_TIMESTAMP.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second = '0', offsetHours = '0', offsetMinutes = '0'] =
    match.slice(1).map((part) => part ?? undefined);
  const valid =
    Number(month) >= 1 &&
    Number(month) <= 12 &&
    Number(day) >= 1 &&
    Number(day) <= new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate() &&
    Number(hour) <= 23 &&
    Number(minute) <= 59 &&
    Number(second) <= 59 &&
    Number(offsetHours) <= 14 &&
    Number(offsetMinutes) <= 59;
  const date = new Date(text);
  return valid && !Number.isNaN(date.getTime()) ? date : undefined;
}

const FIRST_WIRE_INSTANT = new Date('0001-01-01T00:00:00Z').getTime();
const LAST_WIRE_INSTANT = new Date('9999-12-31T23:59:59.999Z').getTime();

/** Whether the wire format (four-digit UTC years) can write this instant. */
export function isWireRepresentable(date: Date): boolean {
  return date.getTime() >= FIRST_WIRE_INSTANT && date.getTime() <= LAST_WIRE_INSTANT;
}

/** The wire format: UTC, whole seconds, trailing Z — `2026-01-15T10:00:00Z`. */
export function toWireTimestamp(date: Date): string {
  return date.toISOString().slice(0, 19) + 'Z';
}

export function truncateToSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** The service day (KST, UTC+9) a moment belongs to, as `YYYY-MM-DD`. */
export function kstDay(date: Date): string {
  return new Date(date.getTime() + KST_OFFSET_MS).toISOString().slice(0, 10);
}
