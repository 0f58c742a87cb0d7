import { writeFileSync } from 'node:fs';
import type { CheckInput, Report, Violation } from './checker';
import { Entry, Fault, messageOf } from './history';

const seconds = (ms: number) => `+${(ms / 1000).toFixed(3)}s`;

export function describeEntry(entry: Entry): string {
  const key = entry.key ? ` key=${entry.key}` : ' (no key)';
  let outcome: string;
  if (entry.error) outcome = `no answer (${entry.error})`;
  else {
    const message = messageOf(entry);
    const detail = message ?? (entry.answer ?? '').slice(0, 160);
    outcome = `${entry.status} ${detail}${entry.replayed ? ' [replayed]' : ''}${
      entry.retryAfter !== undefined ? ` [retry-after ${entry.retryAfter}]` : ''
    }`;
  }
  return (
    `${seconds(entry.sentAt)}..${seconds(entry.doneAt)} #${entry.id} ${entry.actor} (${entry.why}) → ${entry.instance} ` +
    `${entry.method} ${entry.path} ${entry.body}${key} ⇒ ${outcome}`
  );
}

function describeFault(fault: Fault): string {
  return `${seconds(fault.startAt)}..${seconds(fault.endAt)} FAULT ${fault.kind} ${fault.target}${
    fault.note ? ` (${fault.note})` : ''
  }`;
}

/**
 * The smallest window of history that shows a violation: its own entries, the operator's switches of the
 * same event answered within it, and every fault (the KST midnight included) overlapping it.
 */
export function renderWindow(input: CheckInput, violation: Violation): string[] {
  if (violation.entries.length === 0) return ['  (found in the database after the run)'];
  const { from, to } = violation;
  const shown = new Set(violation.entries);
  const lines: Array<{ at: number; text: string }> = [];
  for (const entry of input.entries) {
    const operatorSwitch =
      entry.actor === 'operator' &&
      entry.method === 'PATCH' &&
      entry.eventKey === violation.eventKey &&
      entry.status !== undefined &&
      entry.doneAt >= from &&
      entry.doneAt <= to;
    if (shown.has(entry.id) || operatorSwitch) {
      lines.push({ at: entry.sentAt, text: describeEntry(entry) });
    }
  }
  for (const fault of input.faults) {
    if (fault.startAt <= to && fault.endAt >= from) {
      lines.push({ at: fault.startAt, text: describeFault(fault) });
    }
  }
  return lines.sort((a, b) => a.at - b.at).map((line) => `  ${line.text}`);
}

/** The report for a person: counts by kind, then the first windows. */
export function renderReport(
  seed: number,
  input: CheckInput,
  report: Report,
  maxWindows = 6,
): string {
  const lines: string[] = [];
  const byKind = new Map<string, number>();
  for (const violation of report.violations) {
    byKind.set(violation.kind, (byKind.get(violation.kind) ?? 0) + 1);
  }
  lines.push(
    `FCFS: ${report.fcfs.inversions} pairs where a winner's first request was sent after a cleanly refused ` +
      `non-winner's first request, but before that refusal arrived (${report.fcfs.winnersInvolved} winners; ` +
      'counted, not failed)',
  );
  if (report.violations.length === 0) {
    lines.push(`seed ${seed}: no violation`);
    return lines.join('\n');
  }
  lines.push(
    `seed ${seed}: ${report.violations.length} VIOLATIONS — ${[...byKind]
      .map(([kind, count]) => `${kind} ×${count}`)
      .join(', ')}`,
  );
  // One window per kind first, so a flood of one kind does not hide another.
  const firstOfKind = [...byKind.keys()].map((kind) =>
    report.violations.find((v) => v.kind === kind)!,
  );
  const shown = [...new Set([...firstOfKind, ...report.violations])].slice(0, maxWindows);
  for (const violation of shown) {
    lines.push(
      '',
      `[${violation.kind}] seed ${seed}: ${violation.message}`,
      ...renderWindow(input, violation),
    );
  }
  if (report.violations.length > shown.length) {
    lines.push('', `… ${report.violations.length - shown.length} more in the history file`);
  }
  return lines.join('\n');
}

/** The history as JSON a person can read: one entry or fault per line. */
export function writeHistory(
  path: string,
  header: Record<string, unknown>,
  input: CheckInput,
  report: Report,
): void {
  const list = (items: unknown[]) =>
    items.length === 0
      ? '[]'
      : `[\n${items.map((item) => `  ${JSON.stringify(item)}`).join(',\n')}\n]`;
  const parts = [
    ...Object.entries(header).map(([name, value]) => `"${name}": ${JSON.stringify(value)}`),
    `"fcfs": ${JSON.stringify(report.fcfs)}`,
    `"violations": ${list(report.violations)}`,
    `"faults": ${list([...input.faults].sort((a, b) => a.startAt - b.startAt))}`,
    `"probes": ${list(input.probes)}`,
    `"database": ${JSON.stringify(input.db, null, 1)}`,
    `"entries": ${list(input.entries)}`,
  ];
  writeFileSync(path, `{\n${parts.join(',\n')}\n}\n`);
}
