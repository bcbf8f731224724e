#!/usr/bin/env node
// Sums the "Tests  N passed | M failed | K skipped (T)" lines of every vitest run in a log and
// prints one closing line: "N passed, M failed" (", K skipped" when any were skipped).
import { readFileSync } from 'node:fs';

// eslint-disable-next-line no-control-regex -- strips ANSI colour codes
const text = readFileSync(process.argv[2], 'utf8').replace(/\u001b\[[0-9;]*m/g, '');
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const line of text.split('\n')) {
  const match = /^\S*\s*Tests\s+(.*)\(\d+\)\s*$/.exec(line.replace(/^@s1c\/[\w-]+:test:\s*/, ''));
  if (!match) continue;
  for (const part of match[1].split('|')) {
    const [, count, kind] = /(\d+)\s+(passed|failed|skipped|todo)/.exec(part) ?? [];
    if (kind === 'todo') totals.skipped += Number(count);
    else if (kind) totals[kind] += Number(count);
  }
}
const suffix = totals.skipped > 0 ? `, ${totals.skipped} skipped` : '';
process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed${suffix}\n`);
