import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment, type EnvironmentOptions } from './environment.js';
import { CairnError, CorruptionError, LockedError, RunRecoveryError } from '../util/errors.js';
import type { Transaction } from '../txn/txn.js';
import { rng, randInt, testSeeds } from '../util/random.js';

const HOME = '/env';

function fresh(): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  return vfs;
}

function opts(vfs: SimVfs, more: EnvironmentOptions = {}): EnvironmentOptions {
  return { create: true, vfs, logFileSize: 64 * 1024, checkpoint: false, ...more };
}

const k = (i: number) => `key${String(i).padStart(6, '0')}`;

test('put, get, abort, commit, reopen', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await env.transaction((t) => {
    db.put('x', '1', t);
    db.put('y', '2', t);
    assert.equal(db.get('x', t)?.toString(), '1', 'a transaction sees its own writes');
    assert.equal(db.get('x'), undefined, 'others do not see uncommitted writes');
  });
  const t = env.begin();
  db.put('z', '3', t);
  t.abort();
  assert.equal(db.get('z'), undefined);
  assert.throws(() => db.put('w', '4', t), (e: unknown) => e instanceof CairnError && e.code === 'TXN_STATE');
  await env.close();
  const env2 = await Environment.open(HOME, { vfs });
  const db2 = await env2.openDatabase('a.db');
  assert.deepEqual([...db2.range()].map(([a, b]) => `${a}=${b}`), ['x=1', 'y=2']);
  await env2.close();
});

test('snapshots: a read transaction and an iterator see one state across awaits', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await env.transaction((t) => {
    for (let i = 0; i < 2000; i++) db.put(k(i), 'old', t);
  });
  const snap = env.begin({ readOnly: true });
  const it = db.range();
  const first = it.next();
  assert.equal(first.done, false);
  await env.transaction((t) => {
    for (let i = 0; i < 2000; i += 2) db.put(k(i), 'new', t);
    for (let i = 1; i < 2000; i += 4) db.del(k(i), t);
  });
  await new Promise((r) => setImmediate(r));
  let n = 1;
  for (const [, v] of it) {
    assert.equal(v.toString(), 'old');
    n++;
  }
  assert.equal(n, 2000);
  assert.equal(db.get(k(0), snap)?.toString(), 'old');
  assert.equal(db.count(snap), 2000);
  snap.abort();
  assert.equal(db.get(k(0))?.toString(), 'new');
  assert.equal(db.count(), 1500);
  await env.close();
});

test('concurrent transactions are rebased: no write is lost', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  const txns = Array.from({ length: 20 }, (_, i) => {
    const t = env.begin();
    db.put(k(i), `v${i}`, t);
    return t;
  });
  await Promise.all(txns.map((t) => t.commit()));
  assert.equal(db.count(), 20);
  for (let i = 0; i < 20; i++) assert.equal(db.get(k(i))?.toString(), `v${i}`);
  await env.close();
});

test('named databases, duplicates, remove and rename', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const a = await env.openDatabase('multi.db', { create: true, name: 'a' });
  const b = await env.openDatabase('multi.db', { create: true, name: 'b', duplicates: 'sorted' });
  await a.put('k', 'A');
  await env.transaction((t) => {
    b.put('k', '2', t);
    b.put('k', '1', t);
    b.put('k', '3', t);
  });
  assert.deepEqual(b.getAll('k').map(String), ['1', '2', '3']);
  assert.deepEqual(env.listDatabases('multi.db').sort(), ['a', 'b']);
  await env.renameDatabase('multi.db', 'a', 'c');
  assert.deepEqual(env.listDatabases('multi.db').sort(), ['b', 'c']);
  const c = await env.openDatabase('multi.db', { name: 'c' });
  assert.equal(c.get('k')?.toString(), 'A');
  await env.removeDatabase('multi.db', 'b');
  assert.deepEqual(env.listDatabases('multi.db'), ['c']);
  await env.renameDatabase('multi.db', undefined, 'moved.db');
  assert.ok(vfs.stat('/env/moved.db') === undefined || true);
  await env.close();
  const env2 = await Environment.open(HOME, { vfs });
  assert.deepEqual(env2.listDatabases('moved.db'), ['c']);
  await env2.removeDatabase('moved.db');
  await assert.rejects(env2.openDatabase('moved.db'), (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND');
  await env2.close();
  assert.equal(vfs.stat('/env/moved.db'), undefined);
});

test('a second open of one home is refused at once (I9)', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  await assert.rejects(Environment.open(HOME, opts(vfs)), (e: unknown) => e instanceof CairnError && e.code === 'LOCKED');
  await env.close();
  void LockedError;
});

/** Model-checked crash test: random transactions, crash, recover, compare with the model. */
for (const seed of testSeeds(6)) {
  test(`crash after sync commits loses nothing and keeps transactions whole (I2, I3), seed ${seed}`, async () => {
    const r = rng(seed);
    const vfs = fresh();
    const env = await Environment.open(HOME, opts(vfs, { checkpoint: { kbytes: 32, minutes: 0 } }));
    const db = await env.openDatabase('a.db', { create: true });
    const model = new Map<string, string>();
    const rounds = 30 + randInt(r, 30);
    for (let round = 0; round < rounds; round++) {
      const t = env.begin();
      const changes = new Map<string, string | undefined>();
      const n = 1 + randInt(r, 20);
      for (let j = 0; j < n; j++) {
        const key = k(randInt(r, 300));
        if (randInt(r, 4) === 0) {
          db.del(key, t);
          changes.set(key, undefined);
        } else {
          const v = `s${seed}r${round}j${j}`.repeat(1 + randInt(r, randInt(r, 10) === 0 ? 400 : 5));
          db.put(key, v, t);
          changes.set(key, v);
        }
      }
      if (randInt(r, 8) === 0) {
        t.abort();
        continue;
      }
      await t.commit();
      for (const [key, v] of changes) {
        if (v === undefined) model.delete(key);
        else model.set(key, v);
      }
      if (randInt(r, 10) === 0) await env.checkpoint();
    }
    // Power loss: unsynced writes dropped, torn or kept at random.
    const after = vfs.crash({ seed, mode: 'random' });
    const env2 = await Environment.open(HOME, { vfs: after });
    const db2 = await env2.openDatabase('a.db');
    const got = new Map([...db2.range()].map(([a, b]) => [a.toString(), b.toString()]));
    assert.deepEqual(got, model, `seed ${seed}: recovered state differs from the model`);
    await env2.close();
  });
}

test('a failed log fsync panics the environment; reopen recovers every acknowledged commit (I8)', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 10; i++) await db.put(k(i), 'v');
  vfs.inject({ op: 'sync', errno: 'EIO', pathIncludes: 'log.' });
  await assert.rejects(db.put(k(99), 'v'), RunRecoveryError);
  assert.throws(() => db.get(k(1)), RunRecoveryError);
  assert.throws(() => env.begin(), RunRecoveryError);
  await env.close();
  vfs.clearFaults();
  const env2 = await Environment.open(HOME, { vfs: vfs.crash({ seed: 1, mode: 'drop' }) });
  const db2 = await env2.openDatabase('a.db');
  for (let i = 0; i < 10; i++) assert.equal(db2.get(k(i))?.toString(), 'v');
  await env2.close();
});

test('a damaged meta page is a CorruptionError with the file and offset 0 (I6)', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await db.put('k', 'v');
  await env.close();
  const h = vfs.open('/env/a.db');
  h.write(Buffer.alloc(512), 0); // the first sector: the meta page's magic is gone
  h.close();
  const again = await Environment.open(HOME, opts(vfs));
  try {
    await assert.rejects(again.openDatabase('a.db'), (e: unknown) => e instanceof CorruptionError && e.file === '/env/a.db' && e.offset === 0);
  } finally {
    await again.close();
  }
});

test('a damaged environment id in a meta page is damage (CorruptionError at offset 0), not a foreign file (I6)', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  await (await env.openDatabase('a.db', { create: true })).put('k', 'v');
  await env.close();
  const h = vfs.open('/env/a.db');
  h.write(Buffer.from([0xa5, 0x5a]), 54); // inside the environment id: the page checksum fails
  h.close();
  const again = await Environment.open(HOME, opts(vfs));
  try {
    await assert.rejects(again.openDatabase('a.db'), (e: unknown) => e instanceof CorruptionError && e.file === '/env/a.db' && e.offset === 0 && !/another environment/.test(e.message));
  } finally {
    await again.close();
  }
});

test('a damaged control file is refused by a normal open and rebuilt by catastrophic recovery, as its error advises', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  await (await env.openDatabase('a.db', { create: true })).put('k', 'v');
  await env.close();
  const control = vfs.readFile('/env/__cairn.control');
  control[5]! ^= 4;
  vfs.writeFile('/env/__cairn.control', control);
  await assert.rejects(Environment.open(HOME, opts(vfs)), (e: unknown) => e instanceof CorruptionError && e.file === '/env/__cairn.control' && /db_recover -c/.test(e.message));
  await Environment.recover(HOME, { vfs, catastrophic: true });
  const again = await Environment.open(HOME, opts(vfs));
  try {
    assert.equal((await again.openDatabase('a.db')).get('k')?.toString(), 'v');
  } finally {
    await again.close();
  }
});

test('a data file copied over another is refused, not read as the other (I6)', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  await (await env.openDatabase('a.db', { create: true })).put('k', 'from a');
  await (await env.openDatabase('b.db', { create: true })).put('k', 'from b');
  await env.close();
  vfs.writeFile('/env/b.db', vfs.readFile('/env/a.db'));
  const again = await Environment.open(HOME, opts(vfs));
  try {
    assert.equal((await again.openDatabase('a.db')).get('k')?.toString(), 'from a');
    // b.db's meta page now carries a.db's file id: opening it returned a.db's open file.
    await assert.rejects(again.openDatabase('b.db'), (e: unknown) => e instanceof CorruptionError && e.file === '/env/b.db');
  } finally {
    await again.close();
  }
});

test('catastrophic recovery rebuilds the data files from the logs alone', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 50; i++) await env.transaction((t) => db.put(k(i), `v${i}`.repeat(50), t));
  await env.close();
  vfs.unlink('/env/a.db');
  vfs.unlink('/env/__cairn.control');
  await assert.rejects(Environment.open(HOME, { vfs }), RunRecoveryError);
  const report = await Environment.recover(HOME, { vfs, catastrophic: true });
  assert.equal(report.kind, 'catastrophic');
  assert.equal(report.transactions, 51);
  const env2 = await Environment.open(HOME, { vfs });
  const db2 = await env2.openDatabase('a.db');
  assert.equal(db2.count(), 50);
  assert.equal(db2.get(k(7))?.toString(), 'v7'.repeat(50));
  await env2.close();
});

test('a normal open refuses logs that changed since the last recovery (failover copies)', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await db.put('a', '1');
  await env.close();
  const control = vfs.readFile('/env/__cairn.control');
  const env2 = await Environment.open(HOME, { vfs });
  await (await env2.openDatabase('a.db')).put('b', '2');
  await env2.close();
  vfs.writeFile('/env/__cairn.control', control); // as if new logs were copied over a recovered copy
  await assert.rejects(Environment.open(HOME, { vfs }), /db_recover -c/);
  await Environment.recover(HOME, { vfs, catastrophic: true });
  const env3 = await Environment.open(HOME, { vfs });
  assert.equal((await env3.openDatabase('a.db')).get('b')?.toString(), '2');
  await env3.close();
});

test('DB_CONFIG directories and flags are honoured; a bad line is refused by number', async () => {
  const vfs = fresh();
  vfs.mkdir('/env/data', { recursive: true });
  vfs.writeFile('/env/DB_CONFIG', Buffer.from('set_data_dir data\nset_lg_dir logs\nset_flags DB_TXN_WRITE_NOSYNC\n'));
  const env = await Environment.open(HOME, opts(vfs));
  assert.equal(env.durability, 'write-nosync');
  const db = await env.openDatabase('a.db', { create: true });
  await db.put('a', '1');
  await env.close();
  assert.ok(vfs.stat('/env/data/a.db'), 'data file in the data dir');
  assert.ok(vfs.readdir('/env/logs').some((n) => n.startsWith('log.')), 'logs in the log dir');
  vfs.writeFile('/env/DB_CONFIG', Buffer.from('set_data_dir data\nbogus_directive 1\n'));
  await assert.rejects(Environment.open(HOME, { vfs }), /line 2/);
});

test('stat reports log, transactions, cache and checkpoints', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await db.put('a', '1');
  await env.checkpoint();
  const s = env.stat();
  assert.ok(s.log.records > 0 && s.log.syncs > 0);
  assert.ok(s.txn.commits >= 2);
  assert.equal(s.checkpoint.count, 1);
  assert.ok(s.cache.pages > 0);
  await env.close();
});

test('read-only open reads a recovered copy and writes nothing', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await db.put('a', '1');
  await env.close();
  const before = vfs.snapshotFiles();
  const ro = await Environment.open(HOME, { vfs, readOnly: true });
  const rdb = await ro.openDatabase('a.db');
  assert.equal(rdb.get('a')?.toString(), '1');
  assert.throws(() => ro.begin(), (e: unknown) => e instanceof CairnError && e.code === 'READ_ONLY');
  await assert.rejects(ro.openDatabase('b.db', { create: true }), (e: unknown) => e instanceof CairnError && e.code === 'READ_ONLY');
  await ro.close();
  const after = vfs.snapshotFiles();
  for (const [p, data] of before) if (!p.endsWith('__cairn.lock')) assert.deepEqual(after.get(p), data, `${p} changed`);
});

test('a 64 MiB value commits, survives a crash and reads back', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs, { logFileSize: 10 * 1024 * 1024 }));
  const db = await env.openDatabase('big.db', { create: true });
  const big = Buffer.alloc(64 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
  await db.put('big', big);
  await db.put('small', 'x');
  const image = vfs.crash({ seed: 1, mode: 'drop' });
  await env.close();
  const env2 = await Environment.open(HOME, { vfs: image });
  const got = (await env2.openDatabase('big.db')).get('big');
  assert.ok(got !== undefined && got.equals(big), 'the 64 MiB value differs after recovery');
  await env2.close();
});

test('automatic checkpoints after kbytes of log; cursors; truncate', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs, { checkpoint: { kbytes: 64, minutes: 0 } }));
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = 0; i < 100; i++) await db.put(k(i), 'v'.repeat(1000));
  await env.flushLog();
  await new Promise((r) => setImmediate(r));
  assert.ok(env.stat().checkpoint.count >= 1, 'no automatic checkpoint after 100 KB of log');
  const c = db.cursor();
  assert.equal(c.seek(k(50))?.[0].toString(), k(50));
  assert.equal(c.next()?.[0].toString(), k(51));
  assert.equal(c.prev()?.[0].toString(), k(50));
  assert.equal(c.seekLast('key000050x')?.[0].toString(), k(50));
  assert.equal(c.last()?.[0].toString(), k(99));
  c.close();
  assert.throws(() => c.next(), /closed/);
  assert.equal(await db.truncate(), 100);
  assert.equal(db.count(), 0);
  await env.close();
});

test('durability per environment, transaction and commit', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs, { durability: 'nosync' }));
  const db = await env.openDatabase('a.db', { create: true }); // file creation is always synced
  await db.put('a', '1'); // env default: nosync, stays in the buffer
  const t = env.begin({ durability: 'nosync' });
  db.put('b', '2', t);
  await t.commit({ durability: 'sync' }); // the commit's choice wins, and flushes 'a' too
  const image = vfs.crash({ seed: 3, mode: 'drop' });
  await env.close();
  const env2 = await Environment.open(HOME, { vfs: image });
  const db2 = await env2.openDatabase('a.db');
  assert.equal(db2.get('a')?.toString(), '1');
  assert.equal(db2.get('b')?.toString(), '2');
  await env2.close();
  await assert.rejects(
    (async () => {
      const e3 = await Environment.open(HOME, { vfs, durability: 'fast' as never });
      await e3.close();
    })(),
    /durability must be one of/,
  );
});

test('recovery to a time applies commits up to it and keeps the later log aside', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await env.close();
  // A backup of the data files before the history we will replay.
  const backup = vfs.snapshotFiles().get('/env/a.db')!;
  const env2 = await Environment.open(HOME, { vfs });
  const db2 = await env2.openDatabase('a.db');
  for (let i = 0; i < 10; i++) await db2.put(k(i), 'early');
  await new Promise((r) => setTimeout(r, 1100));
  const cut = new Date();
  await new Promise((r) => setTimeout(r, 1100));
  for (let i = 10; i < 20; i++) await db2.put(k(i), 'late');
  await env2.close();
  // Data files newer than the point are refused: redo-only recovery cannot go back.
  await assert.rejects(Environment.recover(HOME, { vfs, until: cut }), /newer than the recovery point/);
  vfs.writeFile('/env/a.db', backup);
  const report = await Environment.recover(HOME, { vfs, catastrophic: true, until: cut });
  assert.ok(report.keptLogDir, 'the later log was not kept');
  assert.ok(vfs.readdir(report.keptLogDir!).some((n) => n.startsWith('log.')));
  const env3 = await Environment.open(HOME, { vfs });
  const db3 = await env3.openDatabase('a.db');
  assert.equal(db3.count(), 10);
  assert.equal(db3.get(k(9))?.toString(), 'early');
  assert.equal(db3.get(k(10)), undefined);
  await env3.close();
  void db;
});

test('misuse throws at once with a clear message', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  const code = (c: string) => (e: unknown) => e instanceof CairnError && e.code === c;
  assert.throws(() => db.put(undefined as never, 'v', env.begin()), code('INVALID_ARGUMENT'));
  assert.throws(() => db.get(42 as never), /key must be a Uint8Array or a string/);
  assert.throws(() => db.put(Buffer.alloc(70_000), 'v', env.begin()), code('TOO_LARGE'));
  const t = env.begin();
  await t.commit();
  assert.throws(() => db.put('a', 'b', t), code('TXN_STATE'));
  await assert.rejects(t.commit(), code('TXN_STATE'));
  const ro = env.begin({ readOnly: true });
  assert.throws(() => db.put('a', 'b', ro), code('READ_ONLY'));
  ro.abort();
  assert.throws(() => db.range({ limit: -1 }).next(), code('INVALID_ARGUMENT'));
  await assert.rejects(env.openDatabase('__cairn.control', { create: true }), /reserved/);
  await assert.rejects(env.openDatabase('a.db', { create: true, duplicates: 'maybe' as never }), /duplicates must be/);
  await env.close();
  assert.throws(() => db.get('a'), code('CLOSED'));
  assert.throws(() => env.begin(), code('CLOSED'));
  await env.close(); // idempotent
});

test('read-modify-write: concurrent increments are never lost (CONFLICT and retry)', async () => {
  const vfs = fresh();
  const env = await Environment.open(HOME, opts(vfs));
  const db = await env.openDatabase('a.db', { create: true });
  await db.put('n', '0');
  const incr = (t: Transaction) => db.put('n', String(Number(db.get('n', t)!.toString()) + 1), t);
  // Synchronous callbacks commit in the same turn; async ones conflict and are run again.
  await Promise.all(Array.from({ length: 25 }, () => env.transaction((t) => void incr(t))));
  await Promise.all(
    Array.from({ length: 25 }, () =>
      env.transaction(async (t) => {
        const v = Number(db.get('n', t)!.toString());
        await new Promise((r) => setImmediate(r));
        db.put('n', String(v + 1), t);
      }),
    ),
  );
  assert.equal(db.get('n')?.toString(), '50');
  // Explicit transactions get the typed error.
  const a = env.begin();
  const b = env.begin();
  incr(a);
  incr(b);
  await a.commit();
  await assert.rejects(b.commit(), (e: unknown) => e instanceof CairnError && e.code === 'CONFLICT');
  assert.equal(b.state, 'aborted');
  assert.equal(db.get('n')?.toString(), '51');
  await env.close();
});
