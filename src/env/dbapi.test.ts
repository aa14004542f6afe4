// The database API of issue 20 items 1–3: getMany, count over a range, keys/values, for await,
// clear(range), put with noOverwrite/ifValue, key and value encodings; and a seeded model test
// of them all (with 'ordered' keys and JSON values) against a sorted in-memory model.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Environment } from './environment.js';
import { CairnError } from '../util/errors.js';
import { SimVfs } from '../io/sim.js';
import { encodeOrdered, type OrderedKey } from './encoding.js';
import { compareOrdered, randomKey } from '../testing/ordered.js';
import { randInt, rng, testSeeds } from '../util/random.js';

const code = (c: string) => (e: unknown) => e instanceof CairnError && e.code === c;

async function fresh(): Promise<Environment> {
  return Environment.open('/env', { create: true, vfs: new SimVfs() });
}

test('put with noOverwrite decides on what it read: a concurrent insert of the key makes it CONFLICT, never a true for a write that did not happen', async () => {
  const env = await fresh();
  try {
    const db = await env.openDatabase('d.db', { create: true });
    const t1 = env.begin();
    const t2 = env.begin();
    assert.equal(db.put('k', 'first', t1, { noOverwrite: true }), true);
    assert.equal(db.put('k', 'second', t2, { noOverwrite: true }), true, 't2 saw no key');
    await t1.commit();
    await assert.rejects(t2.commit(), code('CONFLICT'));
    assert.equal(db.get('k')!.toString(), 'first');
    // env.transaction reruns fn, which now sees the key.
    let last: boolean | undefined;
    const t3 = env.begin();
    db.put('other', 'x', t3);
    const run = env.transaction((t) => (last = db.put('k', 'third', t, { noOverwrite: true })));
    await t3.commit();
    await run;
    assert.equal(last, false);
    assert.equal(db.get('k')!.toString(), 'first');
  } finally {
    await env.close();
  }
});

test('put with ifValue: compare-and-set, false on a different or absent value, CONFLICT on a concurrent change; refused with duplicates or with noOverwrite', async () => {
  const env = await fresh();
  try {
    const db = await env.openDatabase('d.db', { create: true });
    await db.put('k', 'v1');
    assert.equal(await db.put('k', 'v2', undefined, { ifValue: 'v0' }), false);
    assert.equal(await db.put('absent', 'v2', undefined, { ifValue: 'v0' }), false);
    assert.equal(db.has('absent'), false);
    assert.equal(await db.put('k', 'v2', undefined, { ifValue: 'v1' }), true);
    assert.equal(db.get('k')!.toString(), 'v2');
    const t1 = env.begin();
    const t2 = env.begin();
    assert.equal(db.put('k', 'a', t1, { ifValue: 'v2' }), true);
    assert.equal(db.put('k', 'b', t2, { ifValue: 'v2' }), true);
    await t1.commit();
    await assert.rejects(t2.commit(), code('CONFLICT'), 'both compare-and-sets cannot win');
    assert.equal(db.get('k')!.toString(), 'a');
    await assert.rejects(db.put('k', 'x', undefined, { ifValue: 'a', noOverwrite: true }), code('INVALID_ARGUMENT'));
    const dups = await env.openDatabase('dups.db', { create: true, duplicates: 'sorted' });
    await assert.rejects(dups.put('k', 'x', undefined, { ifValue: 'a' }), code('INVALID_ARGUMENT'));
    const json = await env.openDatabase<Buffer, { n: number }>('j.db', { create: true, valueEncoding: 'json' });
    await json.put('c', { n: 1 });
    assert.equal(await json.put('c', { n: 2 }, undefined, { ifValue: { n: 1 } }), true);
    assert.deepEqual(json.get('c'), { n: 2 });
  } finally {
    await env.close();
  }
});

test('getMany, count over a range, keys, values, for await and clear(range)', async () => {
  const env = await fresh();
  try {
    const db = await env.openDatabase('d.db', { create: true });
    await env.transaction((t) => {
      for (let i = 0; i < 500; i++) db.put(`k${String(i).padStart(3, '0')}`, `v${i}`, t);
    });
    assert.deepEqual(db.getMany(['k001', 'nope', 'k499']).map((v) => v?.toString()), ['v1', undefined, 'v499']);
    assert.equal(db.count(), 500);
    assert.equal(db.count({ gte: 'k100', lt: 'k200' }), 100);
    assert.equal(db.count({ prefix: 'k01' }), 10);
    assert.equal(db.count({ gt: 'k100', limit: 7 }), 7);
    assert.equal(db.count({ gt: 'k499' }), 0);
    const t = env.begin({ readOnly: true });
    await db.put('k500', 'late');
    assert.equal(db.count(t), 500, 'count(txn) still counts in the transaction');
    assert.equal(db.count({ prefix: 'k5' }, t), 0);
    assert.deepEqual(db.getMany(['k500'], t), [undefined]);
    t.abort();
    assert.deepEqual([...db.keys({ prefix: 'k00', limit: 3 })].map(String), ['k000', 'k001', 'k002']);
    assert.deepEqual([...db.values({ gte: 'k498' })].map(String), ['v498', 'v499', 'late']);
    const seen: string[] = [];
    for await (const [k] of db.range({ lt: 'k003' })) seen.push(k.toString());
    assert.deepEqual(seen, ['k000', 'k001', 'k002']);
    assert.equal(await db.clear({ gte: 'k100', lt: 'k200' }), 100);
    assert.equal(db.count(), 401);
    assert.equal(db.get('k150'), undefined);
    assert.equal(db.get('k200')!.toString(), 'v200');
    assert.equal(await db.clear({ prefix: 'nothing' }), 0);
    const dups = await env.openDatabase('dups.db', { create: true, duplicates: 'sorted' });
    await env.transaction((t2) => {
      for (const k of ['a', 'b', 'c']) for (const v of ['1', '2', '3']) dups.put(k, v, t2);
    });
    assert.equal(dups.count({ gte: 'b' }), 6);
    assert.equal(await dups.clear({ gte: 'b', lte: 'b' }), 3, 'every duplicate of the cleared key');
    assert.deepEqual([...dups.keys()].map(String), ['a', 'a', 'a', 'c', 'c', 'c']);
    await assert.rejects(db.clear({ gte: 5 as never }), code('INVALID_ARGUMENT'));
    assert.throws(() => db.getMany('k1' as never), code('INVALID_ARGUMENT'));
  } finally {
    await env.close();
  }
});

test('encodings: ordered keys select one user with a range; utf8 and json values; a key of another encoding is ENCODING', async () => {
  const env = await fresh();
  try {
    const events = await env.openDatabase<OrderedKey, { what: string }>('events.db', { create: true, keyEncoding: 'ordered', valueEncoding: 'json' });
    await env.transaction((t) => {
      for (const user of ['ann', 'bob', 'bo']) for (const at of [3, -1, 20, 1.5]) events.put([user, at], { what: `${user}@${at}` }, t);
    });
    const bob = [...events.range({ gte: ['bob', -Infinity], lt: ['bob', Infinity] })];
    assert.deepEqual(bob.map(([k]) => k), [['bob', -1], ['bob', 1.5], ['bob', 3], ['bob', 20]]);
    assert.deepEqual(bob[0]![1], { what: 'bob@-1' });
    assert.deepEqual([...events.keys({ prefix: ['bo'] })].map((k) => (k as OrderedKey[])[1]), [-1, 1.5, 3, 20], "prefix ['bo'] is not ['bob']");
    assert.equal(events.count({ prefix: ['ann'] }), 4);
    assert.deepEqual(events.get(['ann', 20]), { what: 'ann@20' });
    assert.deepEqual(events.getMany([['bo', 3], ['zed', 0]]), [{ what: 'bo@3' }, undefined]);
    const names = await env.openDatabase<string, string>('names.db', { create: true, keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await names.put('é', 'ü');
    assert.equal(names.get('é'), 'ü');
    assert.deepEqual([...names.range()], [['é', 'ü']]);
    // The same file read as bytes, and bytes read as ordered keys.
    const raw = await env.openDatabase('events.db');
    assert.ok(raw.get(encodeOrdered(['ann', 3]))!.toString().includes('ann@3'));
    await raw.put('not ordered', 'x');
    assert.throws(() => [...events.keys()], code('ENCODING'));
    await assert.rejects(env.openDatabase('x.db', { create: true, keyEncoding: 'json' as never }), code('INVALID_ARGUMENT'));
  } finally {
    await env.close();
  }
});

type Model = Map<string, { key: OrderedKey; value: unknown }>;

function sortedEntries(m: Model): Array<{ key: OrderedKey; value: unknown }> {
  return [...m.values()].sort((a, b) => compareOrdered(a.key, b.key));
}

function within(k: OrderedKey, lo: OrderedKey | undefined, hi: OrderedKey | undefined): boolean {
  return (lo === undefined || compareOrdered(k, lo) >= 0) && (hi === undefined || compareOrdered(k, hi) < 0);
}

test('model: getMany, count, clear, range, noOverwrite and ifValue with ordered keys and JSON values, in transactions that commit or abort', async () => {
  for (const seed of testSeeds(3)) {
    const r = rng(seed);
    const env = await fresh();
    try {
      const db = await env.openDatabase<OrderedKey, unknown>('m.db', { create: true, keyEncoding: 'ordered', valueEncoding: 'json' });
      const model: Model = new Map();
      const id = (k: OrderedKey) => encodeOrdered(k).toString('hex');
      const pool = Array.from({ length: 60 }, () => randomKey(r));
      const pick = () => pool[randInt(r, pool.length)]!;
      for (let round = 0; round < 120; round++) {
        const abort = randInt(r, 5) === 0;
        const shadow: Model = new Map(model);
        const t = env.begin();
        for (let op = randInt(r, 6) + 1; op > 0; op--) {
          const k = pick();
          const v = { round, op, n: randInt(r, 4) };
          const which = randInt(r, 6);
          if (which === 0) {
            db.put(k, v, t);
            shadow.set(id(k), { key: k, value: v });
          } else if (which === 1) {
            const had = shadow.has(id(k));
            assert.equal(db.put(k, v, t, { noOverwrite: true }), !had);
            if (!had) shadow.set(id(k), { key: k, value: v });
          } else if (which === 2) {
            const now = shadow.get(id(k));
            const expected = now !== undefined && randInt(r, 2) === 0 ? now.value : { other: round };
            const ok = now !== undefined && JSON.stringify(now.value) === JSON.stringify(expected);
            assert.equal(db.put(k, v, t, { ifValue: expected }), ok);
            if (ok) shadow.set(id(k), { key: k, value: v });
          } else if (which === 3) {
            assert.equal(db.del(k, t), shadow.delete(id(k)) ? 1 : 0);
          } else if (which === 4) {
            const [a, b] = [pick(), pick()].sort(compareOrdered);
            let gone = 0;
            for (const [key, e] of shadow) if (within(e.key, a, b)) (shadow.delete(key), gone++);
            assert.equal(db.clear({ gte: a, lt: b }, t), gone);
          } else {
            const ks = [pick(), pick(), pick()];
            assert.deepEqual(db.getMany(ks, t), ks.map((x) => shadow.get(id(x))?.value));
          }
        }
        if (abort) t.abort();
        else {
          await t.commit();
          model.clear();
          for (const [k, e] of shadow) model.set(k, e);
        }
        // The committed state, read without a transaction.
        const [a, b] = [pick(), pick()].sort(compareOrdered);
        const want = sortedEntries(model).filter((e) => within(e.key, a, b));
        assert.deepEqual([...db.range({ gte: a, lt: b })].map(([k, v]) => ({ key: k, value: v })), want);
        assert.equal(db.count({ gte: a, lt: b }), want.length);
        assert.deepEqual([...db.keys({ gte: a, lt: b, reverse: true })], want.map((e) => e.key).reverse());
        assert.equal(db.count(), model.size);
      }
      assert.deepEqual(db.verify(), []);
    } catch (e) {
      console.error(`replay: CAIRN_SEED=${seed} node --test dist/env/dbapi.test.js`);
      throw e;
    } finally {
      await env.close();
    }
  }
});
