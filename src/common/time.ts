const KST_OFFSET_MS = 9 * 60 * 60 * 1000;

/** ISO-8601 with a zone (Z or ±hh:mm); seconds and fractions optional. */
export const ZONED_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

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
