// A reader that goes away (`db_dump … | head`, `db_load -n … 2>&1 | head`) ends a tool with
// exit status 141, as SIGPIPE would, after it closed the environment it opened: the next tool
// finds a cleanly closed environment, and an abandoned load left nothing behind.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../index.js';
import { REPO, runProcess, tmpDir } from '../testing/toolskit.js';

const N = 20_000;

async function makeHome(t: { after: (fn: () => void) => void }): Promise<string> {
  const dir = tmpDir('cairn-sigpipe-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const home = path.join(dir, 'env');
  const env = await Environment.open(home, { create: true });
  const db = await env.openDatabase('data.db', { create: true });
  await env.transaction((txn) => {
    for (let i = 0; i < N; i++) db.put(`key${String(i).padStart(6, '0')}`, `value ${i}`, txn);
  });
  await env.close();
  return home;
}

/** Runs a bin with the read end of `stream` closed from the start (a reader that has gone). */
function runAndHangUp(tool: string, args: string[], stream: 'stdout' | 'stderr', input?: Buffer): Promise<{ code: number | null; signal: NodeJS.Signals | null; other: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin', `${tool}.js`), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let other = '';
    const hung = child[stream];
    const kept = stream === 'stdout' ? child.stderr : child.stdout;
    kept.on('data', (d: Buffer) => (other += d.toString()));
    hung.destroy();
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, other });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

test('db_dump | head: exit 141, and the environment is left closed (the next db_dump needs no recovery)', async (t) => {
  const home = await makeHome(t);
  const r = await runAndHangUp('db_dump', ['-h', home, 'data.db'], 'stdout');
  assert.equal(r.code, 141, `exit ${r.code} ${r.signal ?? ''}: ${r.other}`);
  const again = await runProcess('dump', ['-h', home, 'data.db']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.split('\n').filter((l) => l.startsWith(' ')).length, 2 * N);
});

test('db_load -n 2>&1 | head: exit 141, the load all or nothing, the environment closed', async (t) => {
  const home = await makeHome(t);
  const dump = await runProcess('dump', ['-h', home, 'data.db']);
  assert.equal(dump.code, 0, dump.stderr);
  // One new key at the end; every other key exists, so -n warns about each on stderr.
  const input = Buffer.from(dump.stdout.replace('DATA=END', ` ${Buffer.from('zzz').toString('hex')}\n ${Buffer.from('new').toString('hex')}\nDATA=END`));
  const r = await runAndHangUp('db_load', ['-n', '-h', home, 'data.db'], 'stderr', input);
  assert.equal(r.code, 141, `exit ${r.code} ${r.signal ?? ''}: ${r.other}`);
  // Closed cleanly: a read-only tool (which refuses an environment needing recovery) works.
  const after = await runProcess('dump', ['-h', home, 'data.db']);
  assert.equal(after.code, 0, after.stderr);
  const lines = after.stdout.split('\n').filter((l) => l.startsWith(' ')).length;
  // Abandoned whole (the usual case: the first warning's EPIPE arrives while the load runs), or
  // whole if the load committed before the EPIPE arrived — never part of it.
  assert.ok(lines === 2 * N || lines === 2 * (N + 1), `${lines / 2} records after the load`);
});
