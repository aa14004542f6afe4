// Real processes: kill -9 of an owner mid-stream; the next open detects the stale owner
// (I9), recovers, and every acknowledged commit is there (I2 under 'write-nosync' and 'sync').

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { CairnError, LockedError } from '../util/errors.js';

const child = `
const { Environment } = await import(process.argv[1]);
const env = await Environment.open(process.argv[2], { create: true, durability: process.argv[3], logFileSize: 65536 });
const db = await env.openDatabase('a.db', { create: true });
process.stdout.write('ready ' + process.pid + '\\n');
for (let n = db.count() + 1; ; n++) {
  await env.transaction((t) => { db.put('k' + String(n).padStart(8, '0'), 'v'.repeat(n % 300), t); });
  process.stdout.write('ack ' + n + '\\n');
  if (n % 50 === 0) await new Promise((r) => setImmediate(r));
}
`;

function startWriter(home: string, durability: string) {
  const entry = new URL('../index.js', import.meta.url).href;
  const p = spawn(process.execPath, ['--input-type=module', '-e', child, entry, home, durability], { stdio: ['ignore', 'pipe', 'inherit'] });
  let acked = 0;
  let buf = '';
  let onReady: (pid: number) => void;
  const ready = new Promise<number>((r) => (onReady = r));
  p.stdout!.setEncoding('utf8');
  p.stdout!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('ack ')) acked = Number(line.slice(4));
      else if (line.startsWith('ready ')) onReady(Number(line.slice(6)));
    }
  });
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  return { p, ready, exited, acked: () => acked };
}

for (const durability of ['sync', 'write-nosync']) {
  test(`kill -9 of the owner: stale owner detected, recovery keeps every acknowledged commit (${durability})`, async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-kill-'));
    try {
      const w = startWriter(home, durability);
      const pid = await w.ready;
      // While it lives, a second opener is refused at once, naming the owner.
      await assert.rejects(Environment.open(home), (e: unknown) => e instanceof LockedError && e.pid === pid);
      while (w.acked() < 300) await new Promise((r) => setTimeout(r, 20));
      w.p.kill('SIGKILL');
      await w.exited;
      const acked = w.acked();
      const env = await Environment.open(home);
      const db = await env.openDatabase('a.db');
      for (let n = 1; n <= acked; n++) {
        assert.ok(db.get('k' + String(n).padStart(8, '0')) !== undefined, `acknowledged commit ${n} of ${acked} is missing`);
      }
      const count = db.count();
      assert.ok(count >= acked && count <= acked + 1, `recovered ${count} for ${acked} acknowledged`);
      await env.close();
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
}

test('kill -9 at random moments, 50 times: every acknowledged commit survives, no gaps', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-kill50-'));
  const seed = Number(process.env.CAIRN_SEED ?? Date.now() % 100000);
  let state = seed;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const runs = process.env.CAIRN_NIGHTLY === '1' ? 500 : 50;
  try {
    let ackedTotal = 0;
    for (let i = 0; i < runs; i++) {
      const w = startWriter(home, 'sync');
      await w.ready;
      // Kill at a random moment: right away, or after a random number of milliseconds.
      const wait = rand(4) === 0 ? 0 : rand(60);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      w.p.kill('SIGKILL');
      await w.exited;
      ackedTotal = Math.max(ackedTotal, w.acked());
      const env = await Environment.open(home);
      const db = await env.openDatabase('a.db');
      const count = db.count();
      const where = `run ${i} (seed ${seed}; replay with CAIRN_SEED=${seed})`;
      assert.ok(count >= ackedTotal, `${where}: ${count} commits recovered, ${ackedTotal} acknowledged`);
      let n = 0;
      for (const [k] of db.range()) {
        n++;
        assert.equal(k.toString(), 'k' + String(n).padStart(8, '0'), `${where}: gap before commit ${n}`);
      }
      ackedTotal = count; // recovered commits are the new floor, acknowledged or not
      await env.close();
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('open refuses a missing home without create, and a non-environment directory', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-open-'));
  try {
    await assert.rejects(Environment.open(path.join(home, 'nope')), (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND');
    await assert.rejects(Environment.open(home), (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND');
    assert.deepEqual(fs.readdirSync(home), [], 'a refused open leaves nothing behind');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
