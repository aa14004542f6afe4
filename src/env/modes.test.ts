// Nothing readable by others by default (issue 16 item 8, F7, F8): under umask 000 a home that
// cairn creates is 0700 and everything in it 0600 (logs, data files, control, page map, lock,
// sockets); the `mode` option widens them (0o640 → files 0640, directories 0750); the owner's
// channel socket is never reachable with other permissions: a watcher process stat-ing its path
// in a tight loop while environments open never sees it with a mode other than 0600. ~2 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { CairnError } from '../util/errors.js';
import { dirModeFor } from '../io/node.js';

function tmp(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cairn-modes-${tag}-`));
}

/** Runs `fn` with the process umask set to `mask` (main thread only), then restores it. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

/** mode & 0o777 of every entry under `dir` (lstat), by relative path, with the directory itself as '.'. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = { '.': (fs.statSync(dir).mode & 0o777).toString(8) };
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    out[name] = (fs.lstatSync(path.join(dir, name)).mode & 0o777).toString(8);
  }
  return out;
}

async function populate(home: string, options: { mode?: number } = {}): Promise<Record<string, string>> {
  const env = await Environment.open(home, { create: true, logFileSize: 65536, ...options });
  let open: Record<string, string>;
  try {
    const db = await env.openDatabase('d.db', { create: true });
    for (let i = 0; i < 200; i++) await db.put(`k${i}`, 'v'.repeat(400));
    await env.checkpoint();
    await env.openDatabase('sub.db', { create: true, name: 'n' });
    open = modes(home); // with the lock and the sockets
  } finally {
    await env.close();
  }
  return { ...open, ...modes(home) };
}

test('under umask 000 the home is 0700 and every file in it 0600, the log directory 0700 too', async () => {
  const base = tmp('default');
  try {
    const home = path.join(base, 'env');
    const seen = await withUmask(0, () => populate(home));
    assert.ok(Object.keys(seen).some((n) => n.startsWith('log.')) && '__cairn.lock' in seen && '__cairn.sock' in seen && 'd.db' in seen, JSON.stringify(seen));
    for (const [name, mode] of Object.entries(seen)) assert.equal(mode, name === '.' ? '700' : '600', `${name}: ${mode} in ${JSON.stringify(seen)}`);
    // A log directory named in DB_CONFIG and made by the open: private too.
    const h2 = path.join(base, 'env2');
    fs.mkdirSync(h2, { mode: 0o700 });
    fs.writeFileSync(path.join(h2, 'DB_CONFIG'), 'set_lg_dir logs\n');
    await withUmask(0, async () => (await Environment.open(h2, { create: true })).close());
    assert.equal(fs.statSync(path.join(h2, 'logs')).mode & 0o777, 0o700);
    for (const n of fs.readdirSync(path.join(h2, 'logs'))) assert.equal(fs.statSync(path.join(h2, 'logs', n)).mode & 0o777, 0o600, n);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('mode widens what the environment creates (0o640: files 0640, directories 0750); bad modes are refused', async () => {
  const base = tmp('mode');
  try {
    const home = path.join(base, 'env');
    const seen = await withUmask(0, () => populate(home, { mode: 0o640 }));
    for (const [name, mode] of Object.entries(seen)) {
      const want = name === '.' ? '750' : /sock$/.test(name) ? '600' : '640';
      assert.equal(mode, want, `${name}: ${mode} in ${JSON.stringify(seen)}`);
    }
    assert.equal(dirModeFor(0o660), 0o770);
    assert.equal(dirModeFor(0o600), 0o700);
    // After close, files made by another environment of this process are private again.
    const other = path.join(base, 'other');
    const seen2 = await withUmask(0, () => populate(other));
    assert.equal(seen2['d.db'], '600');
    for (const bad of [0o400, 0o1777, -1, 1.5, 0o060]) {
      await assert.rejects(Environment.open(path.join(base, 'bad'), { create: true, mode: bad }), (e) => e instanceof CairnError && e.code === 'INVALID_ARGUMENT' && /mode/.test(e.message));
    }
    assert.equal(fs.existsSync(path.join(base, 'bad')), false, 'nothing made for a bad mode');
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('the channel socket is never seen with a mode other than 0600, even under umask 000 (F7)', async () => {
  const base = tmp('sock');
  const home = path.join(base, 'env');
  const sock = path.join(home, '__cairn.sock');
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chmodSync(home, 0o755);
  // The watcher lstat-s the socket path as fast as it can and reports any other mode.
  const watcher = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const p = ${JSON.stringify(sock)};
    let seen = 0, bad = '';
    process.stdin.on('end', () => { console.log(JSON.stringify({ seen, bad })); process.exit(0); });
    process.stdin.resume();
    console.log('watching');
    (function loop() {
      const end = Date.now() + 20;
      while (Date.now() < end) {
        const st = fs.lstatSync(p, { throwIfNoEntry: false });
        if (st !== undefined && st.isSocket()) { seen++; if ((st.mode & 0o777) !== 0o600 && bad === '') bad = (st.mode & 0o777).toString(8); }
      }
      setImmediate(loop);
    })();
  `], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await once(watcher.stdout!, 'data');
    await withUmask(0, async () => {
      for (let i = 0; i < 15; i++) {
        const env = await Environment.open(home, { create: true, checkpoint: false });
        await new Promise((r) => setTimeout(r, 5));
        await env.close();
      }
    });
    watcher.stdin!.end();
    let out = '';
    watcher.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await once(watcher, 'exit');
    const report = JSON.parse(out.trim()) as { seen: number; bad: string };
    assert.ok(report.seen > 0, 'the watcher saw the socket');
    assert.equal(report.bad, '', `the socket was reachable with mode ${report.bad}`);
  } finally {
    if (watcher.exitCode === null && watcher.signalCode === null) watcher.kill('SIGKILL');
    fs.rmSync(base, { recursive: true, force: true });
  }
});
