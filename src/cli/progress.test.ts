// The tools' progress renderer (src/cli/progress.ts) with a fake clock: the live line on a
// terminal, plain lines, NDJSON, throttling, the rate and the estimate of the time left; and the
// engine-side throttle (src/util/progress.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAmount, formatDuration, progressRenderer, progressText, toolProgress, type ProgressMode } from './progress.js';
import { throttleProgress, type Progress } from '../util/progress.js';
import type { CliIo } from './main.js';

/** A renderer on a fake clock, its output collected. */
function rig(mode: ProgressMode, intervalMs: number) {
  let t = 1000;
  const out: string[] = [];
  const r = progressRenderer({ tool: 'db_x', mode, write: (s) => void out.push(s), now: () => t, intervalMs });
  return { r, out, tick: (ms: number) => (t += ms) };
}

const bytes = (done: number, total: number | undefined, phase = 'data'): Progress => ({ phase, done, total, unit: 'bytes' });

test('tty: one line redrawn in place with \\r, rate and time left from the fake clock, cleared at the end', () => {
  const { r, out, tick } = rig('tty', 100);
  r.report(bytes(0, 4 * 1024 * 1024));
  tick(1000);
  r.report(bytes(1024 * 1024, 4 * 1024 * 1024)); // 1 MiB in 1 s: 3 MiB left, 3 s
  tick(50);
  r.report(bytes(1100 * 1024, 4 * 1024 * 1024)); // within the interval: not drawn
  r.end(true);
  assert.deepEqual(out, [
    '\rdb_x: data: 0 B of 4.0 MiB (0%)\x1b[K',
    '\rdb_x: data: 1.0 MiB of 4.0 MiB (25%), 1.0 MiB/s, 3s left\x1b[K',
    '\r\x1b[K',
  ]);
  assert.ok(out.every((s) => !s.includes('\n')), 'a live line never ends a line');
});

test('tty: clear() takes the line off for a message, and only when one is drawn; end() without a line writes nothing', () => {
  const { r, out } = rig('tty', 0);
  r.clear();
  assert.deepEqual(out, []);
  r.report({ phase: 'load', done: 10, total: 100, unit: 'records' });
  r.clear();
  r.clear();
  r.end(true);
  assert.deepEqual(out, ['\rdb_x: load: 10 of 100 records (10%)\x1b[K', '\r\x1b[K']);
});

test('plain: whole lines at most one per interval; a phase start and a phase end always shown', () => {
  const { r, out, tick } = rig('plain', 5000);
  r.report({ phase: 'load', done: 0, total: 3000, unit: 'records' });
  for (let i = 1; i <= 29; i++) {
    tick(1000);
    r.report({ phase: 'load', done: i * 100, total: 3000, unit: 'records' });
  }
  tick(1000);
  r.report({ phase: 'load', done: 3000, total: 3000, unit: 'records' });
  r.report({ phase: 'trees', done: 5, total: undefined, unit: 'pages' });
  r.end(true);
  assert.ok(out.every((s) => s.endsWith('\n') && !s.includes('\r')), JSON.stringify(out));
  // t = 0 s, then every 5 s (5, 10, … 25), then the end at 30 s, then the next phase's first.
  assert.deepEqual(out.map((s) => /: (\d[\d,]*) /.exec(s)?.[1]), ['0', '500', '1,000', '1,500', '2,000', '2,500', '3,000', '5']);
  assert.equal(out[1], 'db_x: load: 500 of 3,000 records (16%), 100 records/s, 25s left\n');
  assert.equal(out[7], 'db_x: trees: 5 pages\n', 'no total: no percentage, no estimate');
});

test('json: one object per line with numbers; the last report shown before the done record; total null when unknown', () => {
  const { r, out, tick } = rig('json', 1000);
  r.report({ phase: 'records', done: 1000, total: undefined, unit: 'records' });
  tick(500);
  r.report({ phase: 'records', done: 2000, total: undefined, unit: 'records' }); // throttled
  tick(400);
  r.report({ phase: 'records', done: 2500, total: undefined, unit: 'records' }); // throttled, then flushed by end
  r.end(true);
  const objs = out.map((l) => {
    assert.ok(l.endsWith('\n') && l.indexOf('\n') === l.length - 1, 'one line each');
    return JSON.parse(l) as Record<string, unknown>;
  });
  assert.deepEqual(objs, [
    { type: 'progress', tool: 'db_x', phase: 'records', done: 1000, total: null, unit: 'records', rate: null },
    { type: 'progress', tool: 'db_x', phase: 'records', done: 2500, total: null, unit: 'records', rate: 1667 },
    { type: 'done', tool: 'db_x', ok: true, elapsedMs: 900 },
  ]);
});

test('off writes nothing; toolProgress picks json, then a live line on a terminal, then plain with -v', () => {
  const { r, out } = rig('off', 0);
  r.report(bytes(1, 2));
  r.end(false);
  assert.deepEqual(out, []);
  const io = (errTty: boolean, tty = false): CliIo & { got: string[] } => {
    const got: string[] = [];
    return { out: () => {}, err: (t) => void got.push(t), tty, errTty, got };
  };
  const env = { CAIRN_PROGRESS_INTERVAL_MS: '0' };
  const shown = (i: CliIo & { got: string[] }, flags: Parameters<typeof toolProgress>[2]) => {
    const p = toolProgress(i, 'db_t', flags, env);
    p.report(bytes(1, 4));
    p.report(bytes(2, 4));
    p.end(true);
    return i.got.join('');
  };
  assert.match(shown(io(true), { json: true, verbose: false }), /^\{"type":"progress"/);
  assert.match(shown(io(true), { json: false, verbose: false }), /^\rdb_t: data: 1 B of 4 B \(25%\)\x1b\[K\rdb_t: data: 2 B/, 'interval 0: every report drawn');
  assert.equal(shown(io(false), { json: false, verbose: false }), '');
  assert.match(shown(io(false), { json: false, verbose: true }), /^db_t: data: 1 B of 4 B \(25%\)\n/);
  assert.equal(shown(io(true, true), { json: false, verbose: false, streamsToStdout: true }), '', 'data streaming to the same terminal: no live line');
  assert.match(shown(io(true, false), { json: false, verbose: false, streamsToStdout: true }), /^\r/);
});

test('throttleProgress: first of a phase and a phase end always pass, others one per interval', () => {
  let t = 0;
  const got: number[] = [];
  const th = throttleProgress((p) => got.push(p.done), 100, () => t);
  for (let i = 0; i <= 10; i++) {
    th(bytes(i, 10));
    t += 30;
  }
  th(bytes(0, 5, 'logs'));
  assert.deepEqual(got, [0, 4, 8, 10, 0]);
});

test('amounts and durations', () => {
  assert.equal(formatAmount(0, 'bytes'), '0 B');
  assert.equal(formatAmount(1536, 'bytes'), '1.5 KiB');
  assert.equal(formatAmount(1.7 * 1024 ** 3, 'bytes'), '1.7 GiB');
  assert.equal(formatAmount(1234567, 'records'), '1,234,567');
  assert.equal(formatDuration(42), '42s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(progressText('db_x', { phase: 'p', done: 5, total: 0, unit: 'files' }, undefined), 'db_x: p: 5 of 0 files (100%)');
});
