import {
  hasZonedTimestampForm,
  kstDay,
  parseZonedTimestamp,
  toWireTimestamp,
} from '../../src/common/time';

describe('time', () => {
  it.each([
    ['2026-01-15T10:00:00Z', '2026-01-15T10:00:00.000Z'],
    ['2026-01-15T19:00:00+09:00', '2026-01-15T10:00:00.000Z'],
    ['2026-01-15T10:00Z', '2026-01-15T10:00:00.000Z'],
    ['2026-01-15T10:00:00.123456-03:30', '2026-01-15T13:30:00.123Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
  ])('parses %s', (text, iso) => {
    expect(parseZonedTimestamp(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '2026-01-15T10:00:00',
    '2026-01-15',
    '2026-02-30T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-15T24:00:00Z',
    '2026-01-15T10:60:00Z',
    '2026-01-15T10:00:00+15:00',
    '2026-01-15 10:00:00Z',
    '',
  ])('refuses %s', (text) => {
    expect(parseZonedTimestamp(text)).toBeUndefined();
  });

  it.each([
    ['2026-02-30T00:00:00Z', true],
    ['2026-01-15T24:00:00Z', true],
    ['2026-01-15T10:00:00+15:00', true],
    ['2026-01-15T10:00:00', false],
    ['2026-01-15', false],
    ['', false],
  ])('tells the form of %s apart from its possibility (%s)', (text, form) => {
    expect(hasZonedTimestampForm(text)).toBe(form);
  });

  it('writes whole-second UTC with a Z', () => {
    expect(toWireTimestamp(new Date('2026-01-15T10:00:00.999Z'))).toBe('2026-01-15T10:00:00Z');
  });

  it('puts 15:00:00 UTC into the next KST day', () => {
    expect(kstDay(new Date('2026-03-10T14:59:59.999Z'))).toBe('2026-03-10');
    expect(kstDay(new Date('2026-03-10T15:00:00.000Z'))).toBe('2026-03-11');
  });
});
