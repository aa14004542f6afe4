// The owner lock (I9): a live owner is refused at once with its pid; a dead owner's lock (found
// on a SimVfs crash image, or left by a real child process killed with SIGKILL) is taken over
// and reported as staleOwner so the environment recovers; racing and failing creators are safe.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOCK_FILE, acquireOwnerLock, processIsAlive, readOwner } from './lock.js';
import { SimVfs, type CrashMode } from '../io/sim.js';
import { Environment } from './environment.js';
import { testSeeds } from '../util/random.js';
import { nodeVfs } from '../io/node.js';
import { CairnError, IoError, LockedError } from '../util/errors.js';

const alive = (): boolean => true;
const dead = (): boolean => false;
const BOOT = 'boot-1';

function newEnv(): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir('/env');
  vfs.syncDir('/');
  return vfs;
}

/**
 * The lock left behind when process `pid` dies without releasing it by kill -9 (the page cache
 * survives: crash mode 'keep'). A power loss may leave less: see the crash-mode test below.
 */
function crashedWithOwner(pid: number, bootId = BOOT): SimVfs {
  const vfs = newEnv();
  acquireOwnerLock(vfs, '/env', { pid, isAlive: alive, bootId });
  return vfs.crash({ seed: 1, mode: 'keep' });
}

function lockedBy(pid: number): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof LockedError, String(err));
    assert.equal(err.pid, pid);
    assert.equal(err.code, 'LOCKED');
    assert.match(err.message, new RegExp(`process ${pid}`));
    return true;
  };
}

test('the lock file holds pid, startedAt, hostname; release removes it', () => {
  const vfs = newEnv();
  const lock = acquireOwnerLock(vfs, '/env', { pid: 4242, bootId: BOOT, now: () => 0 });
  assert.equal(lock.staleOwner, undefined);
  assert.equal(lock.path, `/env/${LOCK_FILE}`);
  const rec = JSON.parse(vfs.readFile(lock.path).toString());
  assert.equal(rec.pid, 4242);
  assert.equal(rec.startedAt, '1970-01-01T00:00:00.000Z');
  assert.equal(typeof rec.hostname, 'string');
  assert.equal(vfs.syncCount, 1, 'taking the lock fsyncs nothing (only the test\'s own syncDir of /)');
  lock.release();
  lock.release();
  assert.equal(vfs.stat(lock.path), undefined);
});

test('a second owner is refused at once with the live owner pid', () => {
  const vfs = crashedWithOwner(100);
  const other = { pid: 200, isAlive: alive, bootId: BOOT };
  assert.throws(() => acquireOwnerLock(vfs, '/env', other), lockedBy(100));
  assert.deepEqual(readOwner(vfs, '/env', { isAlive: alive, bootId: BOOT, pid: 200 })?.pid, 100);
});

test('a second open inside the same process is refused too', () => {
  const vfs = newEnv();
  const lock = acquireOwnerLock(vfs, '/env', { pid: 300, bootId: BOOT });
  assert.throws(() => acquireOwnerLock(vfs, '/env', { pid: 300, bootId: BOOT }), lockedBy(300));
  assert.equal(readOwner(vfs, '/env', { pid: 300 })?.alive, true);
  lock.release();
  acquireOwnerLock(vfs, '/env', { pid: 300, bootId: BOOT }).release();
});

test('a dead owner lock is taken over and reported as staleOwner', () => {
  const vfs = crashedWithOwner(100);
  assert.deepEqual(readOwner(vfs, '/env', { isAlive: dead, pid: 200 })?.alive, false);
  const lock = acquireOwnerLock(vfs, '/env', { pid: 200, isAlive: dead, bootId: BOOT });
  assert.equal(lock.staleOwner, 100);
  assert.equal(JSON.parse(vfs.readFile(lock.path).toString()).pid, 200);
  assert.deepEqual(vfs.readdir('/env'), [LOCK_FILE], 'no aside file left behind');
  lock.release();
});

test('our own pid in the lock is a past incarnation; a new boot id means a dead owner', () => {
  const mine = crashedWithOwner(100);
  const again = acquireOwnerLock(mine, '/env', { pid: 100, isAlive: alive, bootId: BOOT });
  assert.equal(again.staleOwner, 100);
  const rebooted = crashedWithOwner(100, 'boot-1');
  const lock = acquireOwnerLock(rebooted, '/env', { pid: 200, isAlive: alive, bootId: 'boot-2' });
  assert.equal(lock.staleOwner, 100);
});

test('an empty lock file is "being created" for a second, then stale', () => {
  let now = 0;
  const vfs = new SimVfs({ clock: () => now });
  vfs.mkdir('/env');
  vfs.writeFile(`/env/${LOCK_FILE}`, new Uint8Array(0));
  now = 500;
  assert.throws(
    () => acquireOwnerLock(vfs, '/env', { pid: 200, isAlive: alive, now: () => now }),
    (err: unknown) =>
      err instanceof CairnError && err.code === 'LOCKED' && /being opened/.test(err.message),
  );
  now = 5000;
  const lock = acquireOwnerLock(vfs, '/env', { pid: 200, isAlive: alive, now: () => now });
  assert.equal(lock.staleOwner, 0);
  assert.equal(readOwner(vfs, '/env', { pid: 200 })?.alive, true);
});

test('a racer that replaces the stale lock between our read and our rename wins', () => {
  const racer = JSON.stringify({ pid: 999, startedAt: '', hostname: 'h', token: 'racer' });
  class RacyVfs extends SimVfs {
    raced = false;
    override rename(from: string, to: string): void {
      if (!this.raced && from.endsWith(LOCK_FILE)) {
        this.raced = true;
        this.unlink(from); // the racer removed the stale lock and created its own
        this.writeFile(from, Buffer.from(racer));
      }
      super.rename(from, to);
    }
  }
  const vfs = new RacyVfs();
  vfs.mkdir('/env');
  vfs.writeFile(`/env/${LOCK_FILE}`, Buffer.from(JSON.stringify({ pid: 100, token: 'old' })));
  const isAlive = (pid: number): boolean => pid === 999;
  assert.throws(() => acquireOwnerLock(vfs, '/env', { pid: 200, isAlive }), lockedBy(999));
  assert.equal(vfs.readFile(`/env/${LOCK_FILE}`).toString(), racer, "the racer's lock is back");
  assert.deepEqual(vfs.readdir('/env'), [LOCK_FILE]);
});

test('a lock taken over by someone else is not removed by the old holder', () => {
  const vfs = newEnv();
  const old = acquireOwnerLock(vfs, '/env', { pid: 100, bootId: BOOT });
  vfs.writeFile(old.path, Buffer.from(JSON.stringify({ pid: 200, token: 'new' })));
  old.release();
  assert.equal(JSON.parse(vfs.readFile(old.path).toString()).pid, 200);
});

test('a failed write of the lock leaves no lock behind', () => {
  for (const op of ['write'] as const) {
    const vfs = newEnv();
    vfs.inject({ op, errno: 'ENOSPC' });
    assert.throws(
      () => acquireOwnerLock(vfs, '/env', { pid: 100 }),
      (err: unknown) => err instanceof IoError && err.errno === 'ENOSPC',
    );
    assert.equal(vfs.stat(`/env/${LOCK_FILE}`), undefined, op);
    acquireOwnerLock(vfs, '/env', { pid: 100 }).release();
  }
});

for (const seed of testSeeds(8)) {
  test(`a power loss leaves the unsynced lock gone, empty, torn, garbage or whole: the next boot takes over, and one owner again (seed ${seed})`, () => {
    const seen = new Set<string>();
    const modes: Array<[CrashMode, number | undefined]> = [['drop', undefined], ['keep', undefined], ['torn', 16], ['random', 16], ['random', undefined], ['prefix', 8]];
    for (const [mode, sectorBytes] of modes) {
      const where = `seed ${seed}, ${mode}/${sectorBytes ?? 512} (replay: CAIRN_SEED=${seed})`;
      const before = newEnv();
      acquireOwnerLock(before, '/env', { pid: 100, isAlive: alive, bootId: BOOT, now: () => 0 });
      const vfs = before.crash({ seed, mode, ...(sectorBytes !== undefined ? { sectorBytes } : {}) });
      const left = vfs.stat(`/env/${LOCK_FILE}`) === undefined ? 'gone' : vfs.readFile(`/env/${LOCK_FILE}`).length === 0 ? 'empty' : 'bytes';
      seen.add(left);
      // After the reboot pid 100 belongs to some live, unrelated process: the boot id (or, for
      // an unreadable lock, its age) must say the owner is dead, never a LockedError.
      const next = { pid: 200, isAlive: alive, bootId: 'boot-2', now: () => 10_000 };
      const lock = acquireOwnerLock(vfs, '/env', next);
      const expected: Array<number | undefined> = left === 'gone' ? [undefined] : [100, 0];
      assert.ok(expected.includes(lock.staleOwner), `${where}: lock ${left}, staleOwner ${lock.staleOwner}`);
      assert.equal(JSON.parse(vfs.readFile(lock.path).toString()).pid, 200, where);
      assert.deepEqual(vfs.readdir('/env'), [LOCK_FILE], `${where}: no aside file left behind`);
      // Exclusion holds again at once: another process finds a live owner (the file, not this
      // process's registry, which refuses any second open here anyway).
      assert.deepEqual(readOwner(vfs, '/env', { pid: 300, isAlive: alive, bootId: 'boot-2' })?.alive, true, where);
      assert.equal(readOwner(vfs, '/env', { pid: 300, isAlive: alive, bootId: 'boot-2' })?.pid, 200, where);
      lock.release();
      assert.equal(vfs.stat(lock.path), undefined, where);
    }
    assert.ok(seen.has('gone') && seen.has('bytes'), `seed ${seed}: crash images left the lock ${[...seen].join(', ')}`);
  });
}

test('a power loss that leaves the unsynced lock empty, or no lock at all, still recovers: the control file says the owner died', async () => {
  for (const how of ['drop', 'drop, lock gone', 'keep'] as const) {
    const vfs = newEnv();
    const env = await Environment.open('/env', { create: true, vfs, logFileSize: 64 * 1024, checkpoint: false, durability: 'sync' });
    const db = await env.openDatabase('a.db', { create: true });
    for (let i = 0; i < 50; i++) await db.put(`k${i}`, `v${i}`);
    // No checkpoint ran: the values are only in the log, so reading them back proves recovery ran.
    const image = vfs.crash({ seed: 7, mode: how === 'keep' ? 'keep' : 'drop' });
    const lockFile = `/env/${LOCK_FILE}`;
    if (how === 'keep') assert.equal(JSON.parse(image.readFile(lockFile).toString()).pid, process.pid, 'kill -9 keeps the lock');
    else assert.equal(image.readFile(lockFile).length, 0, 'a power loss keeps the entry (synced with the control file) but not the bytes');
    if (how === 'drop, lock gone') {
      image.unlink(lockFile);
      image.syncDir('/env');
    }
    const again = await Environment.open('/env', { vfs: image, logFileSize: 64 * 1024, checkpoint: false });
    const db2 = await again.openDatabase('a.db');
    for (let i = 0; i < 50; i++) assert.equal(db2.get(`k${i}`)?.toString(), `v${i}`, `${how}: k${i} after recovery`);
    await again.close(); // the crashed `env` is abandoned, as a dead process's would be
  }
});

test('processIsAlive: this process yes, a reaped child no', async () => {
  assert.equal(processIsAlive(process.pid), true);
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  assert.equal(processIsAlive(child.pid!), false);
});

test('real processes: a live child owner is named; after kill -9 it is taken over', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-lock-'));
  const lockUrl = new URL('./lock.js', import.meta.url).href;
  const vfsUrl = new URL('../io/node.js', import.meta.url).href;
  const script = `
    const { acquireOwnerLock } = await import(${JSON.stringify(lockUrl)});
    const { nodeVfs } = await import(${JSON.stringify(vfsUrl)});
    acquireOwnerLock(nodeVfs, ${JSON.stringify(home)}, { pid: process.pid });
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'locked\n');
    const started = Date.now();
    const me = { pid: process.pid };
    assert.throws(() => acquireOwnerLock(nodeVfs, home, me), lockedBy(child.pid!));
    assert.ok(Date.now() - started < 1000, 'refused without waiting');
    assert.deepEqual(readOwner(nodeVfs, home), {
      pid: child.pid,
      alive: true,
      startedAt: readOwner(nodeVfs, home)?.startedAt,
      hostname: os.hostname(),
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.equal(readOwner(nodeVfs, home)?.alive, false);
    const lock = acquireOwnerLock(nodeVfs, home, { pid: process.pid });
    assert.equal(lock.staleOwner, child.pid);
    lock.release();
    assert.deepEqual(fs.readdirSync(home), []);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(home, { recursive: true, force: true });
  }
});

/** Starts `n` processes that all try to take the lock of `home` at the same moment. */
async function race(home: string, n: number): Promise<{ children: ReturnType<typeof spawn>[]; lines: string[] }> {
  const lockUrl = new URL('./lock.js', import.meta.url).href;
  const vfsUrl = new URL('../io/node.js', import.meta.url).href;
  const at = Date.now() + 400; // every child is loaded by then; they spin until that instant
  const script = `
    const { acquireOwnerLock } = await import(${JSON.stringify(lockUrl)});
    const { nodeVfs } = await import(${JSON.stringify(vfsUrl)});
    while (Date.now() < ${at}) {}
    try {
      acquireOwnerLock(nodeVfs, ${JSON.stringify(home)}, { pid: process.pid });
      process.stdout.write('owner ' + process.pid + '\\n');
    } catch (e) {
      // LockedError names the owner; a lock caught between its creation and its write is LOCKED too
      process.stdout.write('refused ' + (e.pid ?? (e.code === 'LOCKED' && /being opened/.test(e.message) ? 'while-created' : e.code + ' ' + e.message)) + '\\n');
    }
    process.stdin.resume(); // hold the lock until the test ends
  `;
  const children = Array.from({ length: n }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = await Promise.all(children.map(async (c) => ((await once(c.stdout!, 'data')) as [Buffer])[0].toString().trim()));
  return { children, lines };
}

test('real processes: two openers racing, over no lock or over a kill -9 owner\'s lock: exactly one owns it, the other is refused (LOCKED)', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-lock-race-'));
  const all: ReturnType<typeof spawn>[] = [];
  try {
    for (let round = 0; round < 4; round++) {
      // Rounds 1 and 3 race over a stale lock left by the previous round's owner, killed with -9.
      const { children, lines } = await race(home, 2);
      all.push(...children);
      const owners = lines.filter((l) => l.startsWith('owner '));
      assert.equal(owners.length, 1, `round ${round}: ${lines.join(' | ')}`);
      const winner = Number(owners[0]!.slice(6));
      const loser = lines.filter((l) => !l.startsWith('owner '));
      assert.ok(loser.length === 1 && [`refused ${winner}`, 'refused while-created'].includes(loser[0]!), `round ${round}: ${lines.join(' | ')}`);
      assert.equal(readOwner(nodeVfs, home)?.pid, winner);
      for (const c of children) c.kill('SIGKILL');
      await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined)));
      if (round % 2 === 1) {
        // Left as the kill -9 left it for the next round; every other round starts without one.
        const lock = acquireOwnerLock(nodeVfs, home, { pid: process.pid });
        assert.equal(lock.staleOwner, winner);
        lock.release();
      }
    }
  } finally {
    for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    fs.rmSync(home, { recursive: true, force: true });
  }
});
