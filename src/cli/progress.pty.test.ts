// The five long-running tools as an operator runs them (issue 22 item 6): on a pseudo-terminal
// (util-linux `script`) each draws a live progress line on stderr, redrawn in place with \r and
// cleared at the end; with --json each writes NDJSON progress on stderr (numbers, `done` never
// going back within a phase, a final done record) and its stdout is what it is without --json
// (db_dump's dump byte for byte). CAIRN_PROGRESS_INTERVAL_MS=0 shows every report, so a small
// data set gives several.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../index.js';
import { REPO, runProcess, smallLogConfig, tmpDir } from '../testing/toolskit.js';

const FAST = { CAIRN_PROGRESS_INTERVAL_MS: '0' };
const RECORDS = 4000;

const haveScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const noScript = haveScript ? false : process.env.CI === 'true' ? false : 'util-linux `script` is not installed: no pseudo-terminal to test on';

if (!haveScript && process.env.CI === 'true') {
  test('util-linux script is installed (CI)', () => assert.fail('`script` (util-linux) is missing: the progress line on a terminal cannot be tested'));
}

let made: Promise<{ dir: string; home: string; dump: string }> | undefined;
let madeDir: string | undefined;
after(() => {
  if (madeDir !== undefined) fs.rmSync(madeDir, { recursive: true, force: true });
});

/** An environment with a.db of RECORDS records over several small log files, and its dump: made once for the three tests. */
function fixture(): Promise<{ dir: string; home: string; dump: string }> {
  return (made ??= makeFixture());
}

async function makeFixture(): Promise<{ dir: string; home: string; dump: string }> {
  const dir = tmpDir('progress');
  madeDir = dir;
  const home = path.join(dir, 'env');
  smallLogConfig(home);
  const env = await Environment.open(home, { create: true });
  try {
    const db = await env.openDatabase('a.db', { create: true });
    const value = Buffer.alloc(200, 0x61);
    for (let i = 0; i < RECORDS; i += 1000) {
      await env.transaction((txn) => {
        for (let j = i; j < i + 1000; j++) db.put(`key${String(j).padStart(6, '0')}`, value, txn);
      });
    }
  } finally {
    await env.close();
  }
  const dump = path.join(dir, 'a.dump');
  const r = await runProcess('dump', ['-h', home, '-f', dump, 'a.db']);
  assert.equal(r.code, 0, r.stderr);
  return { dir, home, dump };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs `shell` on a pseudo-terminal (stdout and stderr both the terminal); resolves what the terminal showed. */
function onTerminal(shell: string): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', shell, '/dev/null'], { env: { ...process.env, ...FAST }, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen: Buffer.concat(out).toString('utf8') });
    });
  });
}

const bin = (tool: string) => `${q(process.execPath)} ${q(path.join(REPO, 'bin', `${tool}.js`))}`;

/** The terminal showed `tool`'s live line redrawn at least twice, and cleared after its last drawing. */
function assertLiveLine(tool: string, screen: string): void {
  const draws = screen.split(`\r${tool}: `).length - 1;
  assert.ok(draws >= 2, `${tool}: the line drawn ${draws} times:\n${JSON.stringify(screen.slice(0, 400))}`);
  const lastDraw = screen.lastIndexOf(`\r${tool}: `);
  const cleared = screen.lastIndexOf('\r\x1b[K');
  assert.ok(cleared > lastDraw, `${tool}: the line is not cleared at the end:\n${JSON.stringify(screen.slice(lastDraw))}`);
  assert.match(screen.slice(lastDraw, screen.indexOf('\x1b[K', lastDraw)), /\d.*( of |\/s)/, 'numbers on the line');
}

/** Every stderr line is a JSON object: progress records with `done` never going back within a phase, then one done record. */
function assertNdjson(tool: string, stderr: string): Array<Record<string, unknown>> {
  const lines = stderr.split('\n');
  assert.equal(lines.pop(), '', 'stderr ends with a newline');
  const objs = lines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return assert.fail(`${tool}: a stderr line that is not JSON: ${JSON.stringify(l)}`);
    }
  });
  const progress = objs.slice(0, -1);
  assert.ok(progress.length >= 2, `${tool}: ${progress.length} progress records`);
  const last = new Map<unknown, number>();
  for (const o of progress) {
    assert.equal(o.type, 'progress');
    assert.equal(o.tool, tool);
    assert.equal(typeof o.done, 'number');
    assert.ok(o.total === null || typeof o.total === 'number');
    assert.ok(['bytes', 'files', 'records', 'pages'].includes(o.unit as string));
    assert.ok(o.rate === null || typeof o.rate === 'number');
    assert.ok((o.done as number) >= (last.get(o.phase) ?? 0), `${tool}: done went back in ${String(o.phase)}`);
    last.set(o.phase, o.done as number);
  }
  assert.deepEqual({ ...objs.at(-1), elapsedMs: 0 }, { type: 'done', tool, ok: true, elapsedMs: 0 });
  return progress;
}

test('db_dump and db_verify: a live line on a terminal; NDJSON with --json, stdout unchanged (the dump byte for byte)', { skip: noScript }, async () => {
  const { dir, home } = await fixture();
  const out = path.join(dir, 'tty.dump');
  let r = await onTerminal(`${bin('db_dump')} -h ${q(home)} a.db > ${q(out)}`);
  assert.equal(r.code, 0, r.screen);
  assertLiveLine('db_dump', r.screen);
  const json = await runProcess('dump', ['-h', home, '--json', 'a.db'], { env: FAST });
  assert.equal(json.code, 0, json.stderr);
  assert.ok(json.out.equals(fs.readFileSync(out)), 'the dump is the same with --json as without');
  assert.ok(json.out.equals(fs.readFileSync(path.join(dir, 'a.dump'))), 'and as with -f');
  const recs = assertNdjson('db_dump', json.stderr);
  assert.deepEqual(recs.at(-1), { ...recs.at(-1), phase: 'records', done: RECORDS, total: RECORDS, unit: 'records' });

  r = await onTerminal(`${bin('db_verify')} -h ${q(home)} a.db`);
  assert.equal(r.code, 0, r.screen);
  assertLiveLine('db_verify', r.screen);
  assert.match(r.screen, /\r\x1b\[KVerification of a\.db succeeded\./, 'the line is cleared before the result is printed');
  const v = await runProcess('verify', ['-h', home, '--json', 'a.db'], { env: FAST });
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout, 'Verification of a.db succeeded.\n');
  const pages = assertNdjson('db_verify', v.stderr);
  assert.ok(pages.some((p) => p.phase === 'a.db pages' && p.done === p.total && p.unit === 'pages'), JSON.stringify(pages));
});

test('db_load: a live line on a terminal; NDJSON with --json (input bytes checked, then records of those checked)', { skip: noScript }, async () => {
  const { dir, dump } = await fixture();
  for (const d of ['l1', 'l2']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const r = await onTerminal(`${bin('db_load')} -h ${q(path.join(dir, 'l1'))} -f ${q(dump)} b.db`);
  assert.equal(r.code, 0, r.screen);
  assertLiveLine('db_load', r.screen);
  const j = await runProcess('load', ['-h', path.join(dir, 'l2'), '-f', dump, '--json', 'b.db'], { env: FAST });
  assert.equal(j.code, 0, j.stderr);
  assert.equal(j.stdout, '');
  const recs = assertNdjson('db_load', j.stderr);
  const size = fs.statSync(dump).size;
  assert.deepEqual([...new Set(recs.map((p) => p.phase))], ['check', 'load']);
  assert.ok(recs.some((p) => p.phase === 'check' && p.done === size && p.total === size && p.unit === 'bytes'));
  assert.deepEqual(recs.at(-1), { ...recs.at(-1), phase: 'load', done: RECORDS, total: RECORDS, unit: 'records' });
});

test('db_hotbackup and db_recover: a live line on a terminal; NDJSON with --json; -v and -f keep their stdout', { skip: noScript }, async () => {
  const { dir, home } = await fixture();
  let r = await onTerminal(`${bin('db_hotbackup')} -h ${q(home)} -b ${q(path.join(dir, 'b1'))}`);
  assert.equal(r.code, 0, r.screen);
  assertLiveLine('db_hotbackup', r.screen);
  const j = await runProcess('hotbackup', ['-h', home, '-b', path.join(dir, 'b2'), '--json'], { env: FAST });
  assert.equal(j.code, 0, j.stderr);
  assert.equal((JSON.parse(j.stdout) as { dir: string }).dir, path.join(dir, 'b2'), 'stdout: the report');
  const recs = assertNdjson('db_hotbackup', j.stderr);
  assert.deepEqual([...new Set(recs.map((p) => p.phase))], ['data', 'logs', 'recovery']);
  // -v: the steps on stdout as before, plain progress lines on stderr (not a terminal).
  const v = await runProcess('hotbackup', ['-h', home, '-b', path.join(dir, 'b3'), '-v'], { env: FAST });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^db_hotbackup: hot backup started at /);
  assert.match(v.stderr, /^db_hotbackup: data: [\d.]+ KiB of [\d.]+ (KiB|MiB) \(\d+%\)\n/);
  assert.ok(!v.stderr.includes('\r'));

  r = await onTerminal(`${bin('db_recover')} -c -h ${q(home)}`);
  assert.equal(r.code, 0, r.screen);
  assertLiveLine('db_recover', r.screen);
  const rj = await runProcess('recover', ['-c', '-h', home, '--json'], { env: FAST });
  assert.equal(rj.code, 0, rj.stderr);
  assert.equal((JSON.parse(rj.stdout) as { kind: string }).kind, 'catastrophic');
  const rr = assertNdjson('db_recover', rj.stderr);
  assert.deepEqual(rr.at(-1), { ...rr.at(-1), phase: 'recovery', unit: 'bytes', done: rr.at(-1)!.total });
  const f = await runProcess('recover', ['-c', '-f', '-h', home]);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /^(Recovery \d+% complete\n)+Recovery 100% complete\n$/);
  assert.equal(f.stderr, '', 'not a terminal, no -v: no progress on stderr');
});
