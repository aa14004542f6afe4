// CairnLevel beyond the shared compliance suite: the two ways of opening it, durability,
// atomic batches, snapshots across awaits, ranged clear, locking, reopening, and that the
// engine's entry point never loads abstract-level.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Environment } from '../index.js';
import { CairnLevel, DEFAULT_FILE } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'cairn-level-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `t${n++}`);
const small = { logFileSize: 256 * 1024, checkpoint: false as const };

test('directory form: creates an environment, persists across close and reopen', async () => {
  const dir = fresh();
  const db = new CairnLevel<string, unknown>(dir, { valueEncoding: 'json', environment: small });
  await db.put('a', { n: 1 });
  await db.batch([
    { type: 'put', key: 'b', value: [2] },
    { type: 'put', key: 'c', value: 'three' },
    { type: 'del', key: 'a' },
  ]);
  assert.equal(db.env.durability, 'write-nosync', 'level-like default');
  assert.deepEqual(db.env.listDatabases(DEFAULT_FILE), ['']);
  await db.close();

  await db.open();
  assert.deepEqual(await db.iterator().all(), [['b', [2]], ['c', 'three']]);
  assert.equal(await db.get('a'), undefined);
  assert.deepEqual(db.getSync('b'), [2]);
  await db.close();

  // A new instance on the same directory, binary keys and values.
  const raw = new CairnLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', environment: small });
  assert.deepEqual(await raw.keys().all(), [Buffer.from('b'), Buffer.from('c')]);
  await raw.put(Buffer.from([0xff, 0]), Buffer.from([1, 2, 3]));
  assert.deepEqual(await raw.get(Buffer.from([0xff, 0])), Buffer.from([1, 2, 3]));
  await raw.close();
});

test('environment form: several databases in one environment, which the adapter does not close', async () => {
  const env = await Environment.open(fresh(), { create: true, ...small });
  try {
    const users = new CairnLevel({ env, file: 'app.db', name: 'users' });
    const orders = new CairnLevel<string, unknown>({ env, file: 'app.db', name: 'orders', valueEncoding: 'json' });
    await users.put('u1', 'ada');
    await orders.put('o1', { user: 'u1' });
    assert.deepEqual(env.listDatabases('app.db').sort(), ['orders', 'users']);

    // One cairn transaction across both databases, seen through the adapters.
    await env.transaction((txn) => {
      users.database.put('u2', 'grace', txn);
      orders.database.put('o2', JSON.stringify({ user: 'u2' }), txn);
    });
    assert.equal(await users.get('u2'), 'grace');
    assert.deepEqual(await orders.get('o2'), { user: 'u2' });

    await users.close();
    await orders.close();
    assert.equal(env.panicked, false);
    // The environment is still open and usable.
    const db = await env.openDatabase('app.db', { name: 'users' });
    assert.equal(db.get('u1')?.toString(), 'ada');
    // Reopening an adapter on it works.
    await users.open();
    assert.equal(await users.get('u1'), 'ada');
    await users.close();
  } finally {
    await env.close();
  }
});

test('environment form: createIfMissing and errorIfExists apply to the database', async () => {
  const env = await Environment.open(fresh(), { create: true, ...small });
  try {
    const missing = new CairnLevel({ env, name: 'nope', createIfMissing: false });
    await assert.rejects(missing.open(), (e: { code: string; cause: Error }) => e.code === 'LEVEL_DATABASE_NOT_OPEN' && /does not exist/.test(e.cause.message));
    const db = new CairnLevel({ env, name: 'x' });
    await db.open();
    await db.close();
    await assert.rejects(db.open({ errorIfExists: true }), (e: { cause: Error }) => /already exists/.test(e.cause.message));
    await db.open({ createIfMissing: false });
    await db.close();
  } finally {
    await env.close();
  }
});

test('environment form on a read-only environment: reads work, writes fail with LEVEL_READONLY', async () => {
  const dir = fresh();
  const rw = new CairnLevel(dir, { environment: small });
  await rw.put('a', '1');
  await rw.close();
  const env = await Environment.open(dir, { readOnly: true });
  try {
    const db = new CairnLevel({ env });
    assert.equal(await db.get('a'), '1');
    assert.deepEqual(await db.keys().all(), ['a']);
    await assert.rejects(db.put('b', '2'), (e: { code: string }) => e.code === 'LEVEL_READONLY');
    await assert.rejects(db.transaction((tx) => tx.put('b', '2')), (e: { code: string }) => e.code === 'LEVEL_READONLY');
    await db.close();
  } finally {
    await env.close();
  }
});

test('a second open of the same directory fails with LEVEL_LOCKED', async () => {
  const dir = fresh();
  const a = new CairnLevel(dir, { environment: small });
  await a.open();
  const b = new CairnLevel(dir, { environment: small });
  await assert.rejects(b.open(), (e: { code: string; cause: { code: string } }) => e.code === 'LEVEL_DATABASE_NOT_OPEN' && e.cause.code === 'LEVEL_LOCKED');
  await a.close();
  await b.open();
  await b.close();
});

test('durability: default, option, and sync: true per write', async () => {
  const db = new CairnLevel(fresh(), { durability: 'nosync', environment: small });
  await db.open();
  assert.equal(db.env.durability, 'nosync');
  const syncs = () => db.env.stat().log.syncs;
  const before = syncs();
  await db.put('a', '1');
  await db.batch([{ type: 'put', key: 'b', value: '2' }]);
  assert.equal(syncs(), before, 'nosync commits do not fsync');
  await db.put('c', '3', { sync: true } as never);
  assert.ok(syncs() > before, 'sync: true waits for an fsync');
  const mid = syncs();
  await db.batch([{ type: 'del', key: 'a' }], { sync: true } as never);
  assert.ok(syncs() > mid, 'a batch with sync: true is fsynced');
  const s2 = syncs();
  await db.put('d', '4', { durability: 'sync' } as never);
  assert.ok(syncs() > s2, 'durability per write');
  const s1 = syncs();
  await db.put('e', '5', { sync: false } as never);
  assert.equal(syncs(), s1, 'sync: false is the default, not a sync');
  await db.close();
  assert.throws(() => new CairnLevel(fresh(), { durability: 'fast' as never }), /durability/);

  // With an environment passed in: its default unless the adapter says otherwise.
  const env = await Environment.open(fresh(), { create: true, durability: 'nosync', ...small });
  try {
    const shared = new CairnLevel({ env, durability: 'sync' });
    await shared.open();
    const s0 = env.stat().log.syncs;
    await shared.put('k', 'v');
    assert.ok(env.stat().log.syncs > s0, "the adapter's durability applies to its commits");
    await shared.close();
  } finally {
    await env.close();
  }
});

test('a batch is one transaction: a failing operation applies nothing', async () => {
  const db = new CairnLevel(fresh(), { environment: small });
  await db.put('keep', 'old');
  const txBefore = db.env.stat().txn.commits;
  await assert.rejects(
    db.batch([
      { type: 'put', key: 'keep', value: 'new' },
      { type: 'put', key: 'x'.repeat(70_000), value: 'too long a key' },
    ]),
    (e: { code: string }) => e.code === 'TOO_LARGE',
  );
  assert.equal(await db.get('keep'), 'old');
  assert.equal(db.env.stat().txn.commits, txBefore);
  await db.batch([
    { type: 'put', key: 'a', value: '1' },
    { type: 'put', key: 'b', value: '2' },
    { type: 'del', key: 'keep' },
  ]);
  assert.equal(db.env.stat().txn.commits, txBefore + 1, 'one commit for the whole batch');
  await db.close();
});

test('iterators read the snapshot taken at creation, across awaits, and release it on close', async () => {
  const db = new CairnLevel(fresh(), { environment: small });
  await db.batch(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(3, '0')}`, value: 'v1' })));
  const base = db.env.stat().txn.snapshots;
  const it = db.iterator({ gte: 'k010', lt: 'k090' });
  assert.equal(db.env.stat().txn.snapshots, base + 1, 'snapshot taken synchronously at creation');
  await db.put('k050', 'v2');
  await db.del('k020');
  await db.clear({ gte: 'k060', lt: 'k070' });
  const seen: Array<[string, string]> = [];
  for (;;) {
    await sleep(1);
    const batch = await it.nextv(7);
    if (batch.length === 0) break;
    seen.push(...batch);
  }
  assert.equal(seen.length, 80);
  assert.ok(seen.every(([, v]) => v === 'v1'), 'writes after creation are not seen');
  await it.close();
  assert.equal(db.env.stat().txn.snapshots, base, 'closing the iterator releases its snapshot');

  // A new iterator sees the new state; seek inside the range and reverse.
  const rev = db.keys({ gte: 'k000', lte: 'k099', reverse: true });
  rev.seek('k065');
  assert.equal(await rev.next(), 'k059');
  await rev.close();
  // Breaking out of for await closes the iterator too.
  for await (const k of db.keys()) {
    assert.equal(k, 'k000');
    break;
  }
  assert.equal(db.env.stat().txn.snapshots, base);
  await db.close();
});

test('explicit snapshots are read-only transactions that last across awaits until closed', async () => {
  const db = new CairnLevel(fresh(), { environment: small });
  await db.put('a', '1');
  const snap = db.snapshot();
  await db.put('a', '2');
  await db.put('b', '3');
  await sleep(5);
  assert.equal(await db.get('a', { snapshot: snap }), '1');
  assert.deepEqual(await db.getMany(['a', 'b'], { snapshot: snap }), ['1', undefined]);
  assert.equal(await db.has('b', { snapshot: snap }), false);
  const it = db.iterator({ snapshot: snap });
  await sleep(5);
  assert.deepEqual(await it.next(), ['a', '1']);
  await snap.close();
  await assert.rejects(it.next(), (e: { code: string }) => e.code === 'LEVEL_SNAPSHOT_NOT_OPEN');
  assert.equal(db.env.stat().txn.active, 1, 'the open iterator still holds the read-only transaction');
  await it.close();
  assert.equal(db.env.stat().txn.active, 0, 'the read-only transaction ended with its last user');
  assert.equal(await db.get('a'), '2');
  await db.close();
});

test('clear: whole database, ranges larger than one chunk, limit and reverse, sublevels', async () => {
  const db = new CairnLevel(fresh(), { environment: { ...small, cacheSize: 16 * 1024 * 1024 } });
  const keys = Array.from({ length: 25_000 }, (_, i) => `k${String(i).padStart(6, '0')}`);
  for (let i = 0; i < keys.length; i += 5000) {
    await db.batch(keys.slice(i, i + 5000).map((key) => ({ type: 'put' as const, key, value: 'v' })));
  }
  await db.clear({ gte: 'k000100', lt: 'k024900' });
  assert.deepEqual(await db.keys({ gte: 'k000098', lte: 'k024901' }).all(), ['k000098', 'k000099', 'k024900', 'k024901']);
  await db.clear({ limit: 2, reverse: true });
  assert.equal(await db.keys({ reverse: true, limit: 1 }).next(), 'k024997');
  const sub = db.sublevel<string, string>('s', {});
  await sub.put('x', '1');
  await sub.clear();
  assert.equal(await sub.get('x'), undefined);
  assert.equal((await db.keys().all()).length, 198);
  await db.clear();
  assert.deepEqual(await db.keys().all(), []);
  await db.close();
});

test('transaction(): atomic across sublevels, with encodings, aborted when fn throws', async () => {
  const db = new CairnLevel<string, unknown>(fresh(), { valueEncoding: 'json', environment: small });
  assert.equal(db.supports.additionalMethods.transaction, true);
  const accounts = db.sublevel<string, number>('accounts', { valueEncoding: 'json' });
  const log = db.sublevel<string, string>('log', {});
  assert.equal(accounts.supports.additionalMethods.transaction, undefined, 'sublevels do not claim it');
  // Called before the database finished opening: waits for it.
  await db.transaction((tx) => {
    tx.put('ada', 100, { sublevel: accounts });
    tx.put('bob', 5, { sublevel: accounts });
  });
  const transfer = (amount: number) =>
    db.transaction((tx) => {
      const from = tx.get<number>('ada', { sublevel: accounts })!;
      if (from < amount) throw new Error('insufficient funds');
      tx.put('ada', from - amount, { sublevel: accounts });
      tx.put('bob', tx.get<number>('bob', { sublevel: accounts })! + amount, { sublevel: accounts });
      tx.put('t1', `ada->bob ${amount}`, { sublevel: log });
      assert.equal(tx.has('t1', { sublevel: log }), true, 'sees its own writes');
      return amount;
    });
  assert.equal(await transfer(30), 30);
  assert.deepEqual(await accounts.iterator().all(), [['ada', 70], ['bob', 35]]);
  assert.equal(await log.get('t1'), 'ada->bob 30');
  await assert.rejects(transfer(1000), /insufficient funds/);
  assert.deepEqual(await accounts.getMany(['ada', 'bob']), [70, 35], 'nothing of the failed transaction applied');
  assert.equal(db.env.stat().txn.active, 0);

  // Concurrent read-modify-writes, each synchronous inside fn: no lost update.
  await Promise.all(Array.from({ length: 50 }, () => db.transaction((tx) => tx.put('n', ((tx.get<number>('n') ?? 0) as number) + 1))));
  assert.equal(await db.get('n'), 50);
  // Async read-modify-writes that await between the read and the write: a conflicting one runs
  // again on the newer state (it was CONFLICT for 19 of 20 before), so none is lost.
  let runs = 0;
  const settled = await Promise.allSettled(
    Array.from({ length: 20 }, () =>
      db.transaction(async (tx) => {
        runs++;
        const n = (tx.get<number>('m') ?? 0) as number;
        await new Promise((resolve) => setImmediate(resolve));
        tx.put('m', n + 1);
      }),
    ),
  );
  assert.deepEqual(settled.filter((r) => r.status === 'rejected'), []);
  assert.equal(await db.get('m'), 20);
  assert.ok(runs > 20, `the conflicting transactions ran again (${runs} runs)`);
  // The root's own keys do not see the sublevel's entries unprefixed.
  assert.equal(await db.get('ada'), undefined);
  const other = new CairnLevel(fresh(), { environment: small });
  await assert.rejects(db.transaction((tx) => tx.put('x', 1, { sublevel: other.sublevel('y', {}) })), TypeError);
  await other.close();
  await db.close();
  await assert.rejects(db.transaction(() => 1), (e: { code: string }) => e.code === 'LEVEL_DATABASE_NOT_OPEN');
});

test("import 'cairndb' does not load abstract-level; cairndb/level does", () => {
  const dist = fileURLToPath(new URL('..', import.meta.url));
  const count = (entry: string) =>
    execFileSync(process.execPath, [
      '--input-type=module',
      '-e',
      `import ${JSON.stringify(join(dist, entry))}; import { createRequire } from 'node:module';` +
        `const r = createRequire(import.meta.url); console.log(Object.keys(r.cache).filter((k) => k.includes('abstract-level')).length);`,
    ])
      .toString()
      .trim();
  assert.equal(count('index.js'), '0');
  assert.notEqual(count('level/index.js'), '0');
});
