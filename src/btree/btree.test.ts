import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BTree } from './btree.js';
import { MemStore } from '../testing/memstore.js';
import { newTree, b, hex, checkTree, dump, fill, maxCell, ovfCapacity } from '../testing/btreekit.js';

describe('btree basics', () => {
  test('empty tree', () => {
    const { w, t } = newTree();
    assert.equal(t.get(w, b('a')), undefined);
    assert.deepEqual(t.getAll(w, b('a')), []);
    assert.equal(t.count(w), 0);
    const c = t.cursor(w);
    assert.equal(c.first(), undefined);
    assert.equal(c.last(), undefined);
    assert.equal(c.seek(b('')), undefined);
    assert.equal(c.seekLast(b('zzz')), undefined);
    assert.equal(c.next(), undefined);
    assert.equal(c.prev(), undefined);
    assert.equal(t.scan(w, {}, () => {}), 0);
    assert.equal(t.scan(w, { reverse: true, gte: b('a'), lt: b('b') }, () => {}), 0);
    assert.equal(t.del(w, b('a')), 0);
    assert.deepEqual(t.stat(w), { levels: 1, leafPages: 1, branchPages: 0, overflowPages: 0, entries: 0, fillFactor: 0 });
    checkTree(w, [t]);
  });

  test('put / get / replace / noOverwrite / del', () => {
    const { w, t } = newTree();
    assert.equal(t.put(w, b('k'), b('v1')), true);
    assert.equal(hex(t.get(w, b('k'))), hex(b('v1')));
    assert.equal(t.put(w, b('k'), b('v2-longer')), true);
    assert.equal(hex(t.get(w, b('k'))), hex(b('v2-longer')));
    assert.equal(t.put(w, b('k'), b('x'), { noOverwrite: true }), false);
    assert.equal(hex(t.get(w, b('k'))), hex(b('v2-longer')));
    assert.equal(t.put(w, b('j'), b('x'), { noOverwrite: true }), true);
    assert.equal(t.count(w), 2);
    assert.equal(t.del(w, b('k'), b('nope')), 0);
    assert.equal(t.del(w, b('k'), b('v2-longer')), 1);
    assert.equal(t.del(w, b('k')), 0);
    assert.equal(t.get(w, b('k')), undefined);
    assert.equal(t.count(w), 1);
    checkTree(w, [t]);
  });

  test('returned buffers are copies', () => {
    const { w, t } = newTree();
    t.put(w, b('key'), b('value'));
    const v = t.get(w, b('key'))!;
    v.fill(0);
    const e = t.cursor(w).first()!;
    e[0].fill(0);
    e[1].fill(0);
    assert.equal(hex(t.get(w, b('key'))), hex(b('value')));
    assert.deepEqual(dump(t, w), [[hex(b('key')), hex(b('value'))]]);
  });

  test('empty key, empty value, 0x00 / 0xff bytes, prefixes', () => {
    for (const dup of ['none', 'sorted', 'unsorted'] as const) {
      const { w, t } = newTree(512, dup);
      const keys = ['', '\x00', '\x00\x00', '\x00\xff', '\x01', 'a', 'a\x00', 'a\x00\x00', 'a\x00\xff', 'a\x01', 'ab', 'a\xff', '\xff', '\xff\x00', '\xff\xff'];
      const shuffled = [...keys].sort(() => 0.5 - ((keys.length * 7919) % 3) / 2);
      for (const k of shuffled.reverse()) t.put(w, b(k), b(k === '' ? '' : `v${k}`));
      for (const k of keys) assert.equal(hex(t.get(w, b(k))), hex(b(k === '' ? '' : `v${k}`)), `${dup} ${hex(b(k))}`);
      assert.deepEqual(
        dump(t, w).map((e) => e[0]),
        keys.map((k) => hex(b(k))),
        dup,
      );
      assert.equal(t.get(w, b('a\x00\x01')), undefined);
      assert.equal(t.get(w, b('\xff\xff\xff')), undefined);
      checkTree(w, [t], dup);
      for (const k of keys) assert.equal(t.del(w, b(k)), 1, `${dup} del ${hex(b(k))}`);
      assert.equal(t.count(w), 0);
      checkTree(w, [t], dup);
    }
  });

  test('invalid arguments', () => {
    const { w, t } = newTree();
    assert.throws(() => t.put(w, 'x' as unknown as Buffer, b('v')), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => new BTree(0, 'none'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => new BTree(1, 'maybe' as 'none'), { code: 'INVALID_ARGUMENT' });
    // Uint8Array is accepted as a key.
    t.put(w, new Uint8Array([1, 2]) as Buffer, b('v'));
    assert.equal(hex(t.get(w, Buffer.from([1, 2]))), hex(b('v')));
  });
});

describe('btree page boundaries and overflow', () => {
  for (const ps of [512, 4096, 65536]) {
    test(`cells around the inline limit, page ${ps}`, () => {
      const { w, t } = newTree(ps);
      const mc = maxCell(ps);
      const sizes: number[] = [];
      // leaf cell = 5 + klen + vlen: exactly maxCell stays inline, one more overflows the value.
      for (let d = -3; d <= 3; d++) sizes.push(mc - 5 - 4 + d);
      let i = 0;
      for (const vl of sizes) {
        for (let rep = 0; rep < 30; rep++) t.put(w, b(`k${String(i++).padStart(3, '0')}`), fill(vl, i));
      }
      checkTree(w, [t], `ps ${ps}`);
      i = 0;
      for (const vl of sizes)
        for (let rep = 0; rep < 30; rep++) {
          const v = t.get(w, b(`k${String(i++).padStart(3, '0')}`));
          assert.equal(hex(v), hex(fill(vl, i)));
        }
      const st = t.stat(w);
      // 3 sizes above the limit × 30 entries, one overflow page each
      assert.equal(st.overflowPages, 3 * 30, JSON.stringify(st));
      assert.equal(t.truncate(w), sizes.length * 30);
      assert.equal(w.livePages(), 1);
      checkTree(w, [t]);
    });

    test(`overflow values at page multiples, page ${ps}`, () => {
      const { w, t } = newTree(ps);
      const cap = ovfCapacity(ps);
      const lens = [mc(ps), cap - 1, cap, cap + 1, 2 * cap - 1, 2 * cap, 2 * cap + 1, 3 * cap, 5 * cap + 7];
      lens.forEach((n, i) => t.put(w, b(`v${i}`), fill(n, n)));
      checkTree(w, [t]);
      lens.forEach((n, i) => assert.equal(hex(t.get(w, b(`v${i}`))), hex(fill(n, n)), `len ${n}`));
      const expectPages = lens.reduce((a, n) => a + Math.ceil(n / cap), 0);
      assert.equal(t.stat(w).overflowPages, expectPages);
      // overwrite with small values frees the chains
      lens.forEach((_, i) => t.put(w, b(`v${i}`), b('small')));
      assert.equal(t.stat(w).overflowPages, 0);
      assert.equal(w.livePages(), 1);
      // and back to large, then delete
      lens.forEach((n, i) => t.put(w, b(`v${i}`), fill(n, i)));
      lens.forEach((n, i) => assert.equal(t.get(w, b(`v${i}`))!.length, n));
      lens.forEach((_, i) => assert.equal(t.del(w, b(`v${i}`)), 1));
      assert.equal(w.livePages(), 1);
      checkTree(w, [t]);
    });
  }

  function mc(ps: number): number {
    return maxCell(ps) + 1;
  }

  test('many value sizes around page boundaries (512)', () => {
    const { w, t } = newTree(512);
    const cap = ovfCapacity(512);
    const lens: number[] = [];
    for (let n = 0; n <= 4 * cap + 3; n += 7) lens.push(n);
    for (let k = 1; k <= 4; k++) for (let d = -2; d <= 2; d++) lens.push(k * cap + d);
    lens.forEach((n, i) => t.put(w, b(`key${String(i).padStart(4, '0')}`), fill(n, i)));
    checkTree(w, [t]);
    lens.forEach((n, i) => assert.equal(hex(t.get(w, b(`key${String(i).padStart(4, '0')}`))), hex(fill(n, i)), `len ${n}`));
    const seen: number[] = [];
    t.scan(w, {}, (_k, v) => {
      seen.push(v.length);
    });
    assert.deepEqual(seen, lens);
    lens.forEach((_, i) => t.del(w, b(`key${String(i).padStart(4, '0')}`)));
    assert.equal(w.livePages(), 1);
  });

  test('64 MiB value', () => {
    const { w, t } = newTree(4096);
    const big = Buffer.allocUnsafe(64 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    t.put(w, b('big'), big);
    t.put(w, b('a'), b('small'));
    t.put(w, b('z'), b('small'));
    const got = t.get(w, b('big'))!;
    assert.equal(got.length, big.length);
    assert.ok(got.equals(big));
    assert.equal(t.stat(w).overflowPages, Math.ceil(big.length / ovfCapacity(4096)));
    assert.deepEqual(t.verify(w), []);
    assert.equal(t.del(w, b('big')), 1);
    assert.equal(w.livePages(), 1);
    checkTree(w, [t]);
  });

  for (const ps of [512, 4096]) {
    test(`large keys (bigger than the page), page ${ps}`, () => {
      const { w, t } = newTree(ps);
      const prefix = fill(3 * ps, 1); // long common prefix: separators overflow too
      const keys: Buffer[] = [];
      for (let i = 0; i < 120; i++) {
        const tail = Buffer.from(String(i * 7919 % 1000).padStart(4, '0'));
        const k = i % 3 === 0 ? Buffer.concat([prefix, tail]) : i % 3 === 1 ? Buffer.concat([tail, prefix]) : Buffer.concat([prefix.subarray(0, ps + (i % 50)), tail]);
        keys.push(k);
        t.put(w, k, i % 2 ? fill(i * 13, i) : b(`v${i}`));
      }
      checkTree(w, [t], `ps ${ps}`);
      const st = t.stat(w);
      assert.ok(st.levels >= 2, JSON.stringify(st));
      keys.forEach((k, i) => assert.equal(hex(t.get(w, k)), hex(i % 2 ? fill(i * 13, i) : b(`v${i}`)), `key ${i}`));
      // order through the cursor matches memcmp order
      const sorted = [...keys].sort(Buffer.compare).map((k) => k.toString('hex'));
      assert.deepEqual(
        dump(t, w).map((e) => e[0]),
        sorted,
      );
      // seek to a prefix of a key lands on it; seekLast of a longer key lands on it
      const c = t.cursor(w);
      const k0 = Buffer.concat([prefix, Buffer.from('0000')]);
      assert.equal(hex(c.seek(prefix)?.[0]), sorted.find((h) => h >= prefix.toString('hex')));
      assert.equal(hex(c.seekLast(Buffer.concat([k0, b('zz')]))?.[0]), hex(k0));
      // get of a near miss (same as a key but one byte shorter / longer)
      assert.equal(t.get(w, keys[0].subarray(0, keys[0].length - 1)), undefined);
      assert.equal(t.get(w, Buffer.concat([keys[0], b('x')])), undefined);
      for (const k of keys) assert.equal(t.del(w, k), 1);
      assert.equal(w.livePages(), 1);
      checkTree(w, [t]);
    });
  }
});

describe('btree splits, merges and page accounting', () => {
  test('sequential ascending and descending loads fill pages', () => {
    for (const desc of [false, true]) {
      const { w, t } = newTree(4096);
      const n = 20000;
      for (let i = 0; i < n; i++) {
        const j = desc ? n - 1 - i : i;
        t.put(w, b(`key${String(j).padStart(10, '0')}`), fill(100, j));
      }
      const st = t.stat(w);
      assert.ok(st.fillFactor > 0.9, `fill ${st.fillFactor} desc=${desc}`);
      assert.equal(st.entries, n);
      checkTree(w, [t]);
    }
  });

  test('random inserts then deletes of everything leave only the root', () => {
    for (const ps of [512, 4096]) {
      const { w, t } = newTree(ps);
      const ids = Array.from({ length: 5000 }, (_, i) => i);
      let x = 7;
      const rnd = (): number => (x = (x * 48271) % 2147483647);
      ids.sort(() => (rnd() & 1) - 0.5);
      for (const i of ids) t.put(w, b(`${(i * 2654435761) % 100000}-${i}`), fill(i % 200, i));
      checkTree(w, [t]);
      const st = t.stat(w);
      assert.ok(st.levels >= (ps === 512 ? 3 : 2), JSON.stringify(st));
      ids.reverse();
      let k = 0;
      for (const i of ids) {
        assert.equal(t.del(w, b(`${(i * 2654435761) % 100000}-${i}`)), 1);
        if (++k % 1000 === 0) checkTree(w, [t]);
      }
      assert.equal(w.livePages(), 1);
      assert.deepEqual(t.stat(w), { levels: 1, leafPages: 1, branchPages: 0, overflowPages: 0, entries: 0, fillFactor: 0 });
    }
  });

  test('deleting every other entry merges pages', () => {
    const { w, t } = newTree(512);
    for (let i = 0; i < 4000; i++) t.put(w, b(`k${String(i).padStart(6, '0')}`), fill(20, i));
    const before = t.stat(w);
    for (let i = 0; i < 4000; i++) if (i % 4 !== 0) t.del(w, b(`k${String(i).padStart(6, '0')}`));
    const after = t.stat(w);
    checkTree(w, [t]);
    assert.ok(after.leafPages <= before.leafPages * 0.6, `${before.leafPages} -> ${after.leafPages}`);
    assert.ok(after.fillFactor > 0.4, `fill ${after.fillFactor}`);
  });

  test('truncate and drop free every page', () => {
    for (const dup of ['none', 'sorted', 'unsorted'] as const) {
      const w = new MemStore(512);
      const t1 = new BTree(BTree.create(w), dup);
      const t2 = new BTree(BTree.create(w), dup);
      for (let i = 0; i < 3000; i++) {
        t1.put(w, b(`a${i % 300}`), fill(i % 7 === 0 ? 900 : 30, i));
        t2.put(w, fill(i % 11 === 0 ? 700 : 10, i), b(`${i}`));
      }
      checkTree(w, [t1, t2], dup);
      const live2 = (() => {
        let n = 0;
        t2.walkPages(w, () => n++);
        return n;
      })();
      assert.equal(t1.truncate(w), dup === 'none' ? 300 : 3000);
      assert.equal(t1.count(w), 0);
      assert.equal(w.livePages(), live2 + 1);
      checkTree(w, [t1, t2], dup);
      t1.put(w, b('again'), b('yes'));
      assert.equal(hex(t1.get(w, b('again'))), hex(b('yes')));
      t2.drop(w);
      t1.drop(w);
      assert.equal(w.livePages(), 0);
    }
  });

  test('snapshots are unaffected by later writes (copy-on-write discipline)', () => {
    const { w, t } = newTree(512);
    for (let i = 0; i < 2000; i++) t.put(w, b(`k${i}`), fill(i % 300, i));
    const snap = w.snapshot();
    const before = dump(t, snap);
    for (let i = 0; i < 2000; i += 3) t.del(w, b(`k${i}`));
    for (let i = 0; i < 2000; i += 5) t.put(w, b(`k${i}x`), fill(400, i));
    t.truncate(w);
    for (let i = 0; i < 500; i++) t.put(w, b(`z${i}`), fill(50, i));
    assert.deepEqual(dump(t, snap), before);
    assert.deepEqual(t.verify(snap), []);
  });
});

describe('btree cursors and scans', () => {
  const { w, t } = newTree(512);
  const keys: string[] = [];
  for (let i = 0; i < 600; i++) keys.push(`k${String(i * 3).padStart(5, '0')}`);
  for (const k of keys) t.put(w, b(k), b(k.toUpperCase()));

  test('first/last/next/prev walk everything both ways', () => {
    const c = t.cursor(w);
    const fwd: string[] = [];
    for (let e = c.first(); e; e = c.next()) fwd.push(e[0].toString());
    assert.deepEqual(fwd, keys);
    assert.equal(c.next(), undefined);
    assert.equal(c.prev()?.[0].toString(), keys[keys.length - 1]);
    const back: string[] = [];
    for (let e = c.last(); e; e = c.prev()) back.push(e[0].toString());
    assert.deepEqual(back, [...keys].reverse());
    assert.equal(c.prev(), undefined);
    assert.equal(c.next()?.[0].toString(), keys[0]);
    const fresh = t.cursor(w);
    assert.equal(fresh.next()?.[0].toString(), keys[0]);
    assert.equal(t.cursor(w).prev()?.[0].toString(), keys[keys.length - 1]);
  });

  test('seek and seekLast', () => {
    const c = t.cursor(w);
    assert.equal(c.seek(b('k00003'))?.[0].toString(), 'k00003');
    assert.equal(c.seek(b('k00004'))?.[0].toString(), 'k00006');
    assert.equal(c.prev()?.[0].toString(), 'k00003');
    assert.equal(c.seek(b(''))?.[0].toString(), 'k00000');
    assert.equal(c.seek(b('k99999')), undefined);
    assert.equal(c.prev()?.[0].toString(), keys[keys.length - 1]);
    assert.equal(c.seekLast(b('k00004'))?.[0].toString(), 'k00003');
    assert.equal(c.seekLast(b('k00003'))?.[0].toString(), 'k00003');
    assert.equal(c.next()?.[0].toString(), 'k00006');
    assert.equal(c.seekLast(b('k')), undefined);
    assert.equal(c.next()?.[0].toString(), 'k00000');
    assert.equal(c.seekLast(b('z'))?.[0].toString(), keys[keys.length - 1]);
    // every boundary between pages
    for (let i = 0; i < keys.length; i++) {
      assert.equal(c.seek(b(keys[i]))?.[0].toString(), keys[i]);
      assert.equal(c.seek(b(keys[i] + '\x00'))?.[0].toString(), keys[i + 1]);
      assert.equal(c.seekLast(b(keys[i] + '\x00'))?.[0].toString(), keys[i]);
      assert.equal(c.seekLast(b(keys[i].slice(0, -1) + String.fromCharCode(keys[i].charCodeAt(5) - 1)))?.[0].toString(), keys[i - 1]);
    }
  });

  test('scan bounds, reverse, limit, early stop', () => {
    const run = (o: Parameters<BTree['scan']>[1]): string[] => {
      const out: string[] = [];
      t.scan(w, o, (k, v) => {
        assert.equal(v.toString(), k.toString().toUpperCase());
        out.push(k.toString());
      });
      return out;
    };
    const between = (lo: string | null, loIncl: boolean, hi: string | null, hiIncl: boolean): string[] =>
      keys.filter((k) => (lo === null || k > lo || (loIncl && k === lo)) && (hi === null || k < hi || (hiIncl && k === hi)));
    assert.deepEqual(run({}), keys);
    assert.deepEqual(run({ reverse: true }), [...keys].reverse());
    const probes = ['', 'k', 'k00000', 'k00001', 'k00300', 'k00301', 'k01797', 'k01798', 'z'];
    for (const lo of probes)
      for (const hi of probes) {
        assert.deepEqual(run({ gte: b(lo), lt: b(hi) }), between(lo, true, hi, false), `gte ${lo} lt ${hi}`);
        assert.deepEqual(run({ gt: b(lo), lte: b(hi) }), between(lo, false, hi, true), `gt ${lo} lte ${hi}`);
        assert.deepEqual(run({ gt: b(lo), lte: b(hi), reverse: true }), between(lo, false, hi, true).reverse(), `rev gt ${lo} lte ${hi}`);
        assert.deepEqual(run({ gte: b(lo), lt: b(hi), reverse: true }), between(lo, true, hi, false).reverse(), `rev gte ${lo} lt ${hi}`);
      }
    assert.deepEqual(run({ gte: b('k00300'), limit: 3 }), ['k00300', 'k00303', 'k00306']);
    assert.deepEqual(run({ lt: b('k00300'), limit: 2, reverse: true }), ['k00297', 'k00294']);
    assert.deepEqual(run({ limit: 0 }), []);
    // tighter of gt/gte applies
    assert.deepEqual(run({ gt: b('k00300'), gte: b('k00003'), limit: 1 }), ['k00303']);
    assert.deepEqual(run({ lt: b('k00006'), lte: b('k00300') }), ['k00000', 'k00003']);
    let n = 0;
    assert.equal(
      t.scan(w, {}, () => ++n < 10),
      10,
    );
  });
});

describe('btree duplicates', () => {
  test('sorted duplicates: order, no-op re-put, delete one, delete all', () => {
    const { w, t } = newTree(512, 'sorted');
    const vals = ['m', 'a', 'z', '', 'a\x00', 'b', 'zz', '\xff'];
    for (const v of vals) assert.equal(t.put(w, b('key'), b(v)), true);
    t.put(w, b('kex'), b('1'));
    t.put(w, b('key\x00'), b('2'));
    t.put(w, b('ke'), b('3'));
    const sorted = [...vals].sort((x, y) => Buffer.compare(b(x), b(y)));
    assert.deepEqual(
      t.getAll(w, b('key')).map((x) => x.toString('latin1')),
      sorted,
    );
    assert.equal(hex(t.get(w, b('key'))), hex(b('')));
    assert.equal(t.put(w, b('key'), b('m')), true); // identical pair: no-op
    assert.equal(t.count(w), vals.length + 3);
    assert.equal(t.put(w, b('key'), b('new'), { noOverwrite: true }), false);
    assert.equal(t.put(w, b('kez'), b('new'), { noOverwrite: true }), true);
    assert.deepEqual(
      dump(t, w).map(([k, v]) => `${Buffer.from(k, 'hex').toString('latin1')}=${Buffer.from(v, 'hex').toString('latin1')}`),
      ['ke=3', 'kex=1', ...sorted.map((v) => `key=${v}`), 'key\x00=2', 'kez=new'],
    );
    assert.equal(t.del(w, b('key'), b('z')), 1);
    assert.equal(t.del(w, b('key'), b('z')), 0);
    assert.equal(t.getAll(w, b('key')).length, vals.length - 1);
    assert.equal(t.del(w, b('key')), vals.length - 1);
    assert.deepEqual(t.getAll(w, b('key')), []);
    assert.equal(hex(t.get(w, b('key\x00'))), hex(b('2')));
    checkTree(w, [t]);
  });

  test('sorted duplicates: cursor seek semantics and scans', () => {
    const { w, t } = newTree(512, 'sorted');
    for (const k of ['a', 'b', 'c']) for (const v of ['1', '2', '3']) t.put(w, b(k), b(v));
    const c = t.cursor(w);
    assert.deepEqual(c.seek(b('b'))?.map(String), ['b', '1']);
    assert.deepEqual(c.seek(b('a\x00'))?.map(String), ['b', '1']);
    assert.deepEqual(c.seekLast(b('b'))?.map(String), ['b', '3']);
    assert.deepEqual(c.seekLast(b('a\xff'))?.map(String), ['a', '3']);
    assert.deepEqual(c.prev()?.map(String), ['a', '2']);
    const collect = (o: Parameters<BTree['scan']>[1]): string[] => {
      const out: string[] = [];
      t.scan(w, o, (k, v) => {
        out.push(`${k}${v}`);
      });
      return out;
    };
    assert.deepEqual(collect({ gt: b('a'), lt: b('c') }), ['b1', 'b2', 'b3']);
    assert.deepEqual(collect({ gte: b('b'), lte: b('b'), reverse: true }), ['b3', 'b2', 'b1']);
    assert.deepEqual(collect({ gt: b('b') }), ['c1', 'c2', 'c3']);
    assert.deepEqual(collect({ lte: b('a') }), ['a1', 'a2', 'a3']);
    assert.deepEqual(collect({ lt: b('b'), reverse: true, limit: 2 }), ['a3', 'a2']);
  });

  test('sorted duplicates with large values (composite keys overflow)', () => {
    for (const ps of [512, 4096]) {
      const { w, t } = newTree(ps, 'sorted');
      const vals: Buffer[] = [];
      for (let i = 0; i < 60; i++) {
        // values sharing long prefixes, some bigger than a page
        const v = Buffer.concat([fill(ps * (i % 3), 5), fill(10 + (i % 7) * ps, i)]);
        vals.push(v);
        t.put(w, b('K'), v);
        t.put(w, b('K'), v); // no-op
      }
      t.put(w, b('J'), b('before'));
      t.put(w, b('L'), b('after'));
      checkTree(w, [t], `ps ${ps}`);
      const got = t.getAll(w, b('K'));
      assert.deepEqual(
        got.map((x) => x.toString('hex')),
        [...vals].sort(Buffer.compare).map((x) => x.toString('hex')),
      );
      assert.equal(t.del(w, b('K'), vals[7]), 1);
      assert.equal(t.getAll(w, b('K')).length, 59);
      assert.equal(t.del(w, b('K')), 59);
      assert.equal(t.count(w), 2);
      checkTree(w, [t]);
      t.del(w, b('J'));
      t.del(w, b('L'));
      assert.equal(w.livePages(), 1);
    }
  });

  test('unsorted duplicates keep insertion order', () => {
    const { w, t } = newTree(512, 'unsorted');
    const vals = ['m', 'a', 'z', '', 'a', 'b', 'zz', 'a'];
    for (const v of vals) t.put(w, b('key'), b(v));
    t.put(w, b('kez'), b('x'));
    t.put(w, b('kex'), b('y'));
    assert.deepEqual(
      t.getAll(w, b('key')).map(String),
      vals,
    );
    assert.equal(t.get(w, b('key'))?.toString(), 'm');
    assert.equal(t.del(w, b('key'), b('a')), 3);
    assert.deepEqual(
      t.getAll(w, b('key')).map(String),
      ['m', 'z', '', 'b', 'zz'],
    );
    t.put(w, b('key'), b('last'));
    assert.deepEqual(
      t.getAll(w, b('key')).map(String),
      ['m', 'z', '', 'b', 'zz', 'last'],
    );
    assert.equal(t.del(w, b('key'), b('last')), 1);
    t.put(w, b('key'), b('again'));
    assert.deepEqual(
      t.getAll(w, b('key')).map(String),
      ['m', 'z', '', 'b', 'zz', 'again'],
    );
    assert.equal(t.put(w, b('key'), b('no'), { noOverwrite: true }), false);
    assert.deepEqual(
      dump(t, w).map(([k, v]) => `${Buffer.from(k, 'hex')}=${Buffer.from(v, 'hex')}`),
      ['kex=y', 'key=m', 'key=z', 'key=', 'key=b', 'key=zz', 'key=again', 'kez=x'],
    );
    assert.equal(t.del(w, b('key')), 6);
    assert.equal(t.count(w), 2);
    checkTree(w, [t]);
  });

  test('many duplicates across many pages', () => {
    for (const dup of ['sorted', 'unsorted'] as const) {
      const { w, t } = newTree(512, dup);
      const n = 3000;
      for (let i = 0; i < n; i++) {
        t.put(w, b(`k${i % 3}`), b(String((i * 7919) % n).padStart(5, '0')));
      }
      checkTree(w, [t], dup);
      for (let j = 0; j < 3; j++) {
        const all = t.getAll(w, b(`k${j}`)).map(String);
        const expect: string[] = [];
        for (let i = j; i < n; i += 3) expect.push(String((i * 7919) % n).padStart(5, '0'));
        if (dup === 'sorted') expect.sort();
        assert.deepEqual(all, expect, dup);
      }
      assert.equal(t.del(w, b('k1')), n / 3);
      assert.equal(t.count(w), (2 * n) / 3);
      checkTree(w, [t], dup);
      assert.equal(t.del(w, b('k0')), n / 3);
      assert.equal(t.del(w, b('k2')), n / 3);
      assert.equal(w.livePages(), 1);
    }
  });
});

test('re-putting an identical value does not dirty the page', () => {
  const { w, t } = newTree();
  t.put(w, b('k'), b('same'));
  w.snapshot(); // from now on writable() copies pages
  const copies = w.stats.copies;
  t.put(w, b('k'), b('same'));
  assert.equal(w.stats.copies, copies);
  t.put(w, b('k'), b('diff'));
  assert.equal(w.stats.copies, copies + 1);
  assert.equal(hex(t.get(w, b('k'))), hex(b('diff')));
});

test('64 KiB pages: multi-level tree, compaction, merges', () => {
  const { w, t } = newTree(65536);
  const n = 6000;
  const key = (i: number): Buffer => b(`key${String((i * 7919) % n).padStart(6, '0')}`);
  for (let i = 0; i < n; i++) t.put(w, key(i), fill(600 + (i % 900), i));
  let st = t.stat(w);
  assert.ok(st.levels >= 2 && st.leafPages > 20, JSON.stringify(st));
  checkTree(w, [t]);
  // rewrite with other sizes (holes, compaction), then delete most
  for (let i = 0; i < n; i += 2) t.put(w, key(i), fill(100 + (i % 2000), i + 1));
  checkTree(w, [t]);
  for (let i = 0; i < n; i++) assert.equal(t.get(w, key(i))?.length, i % 2 ? 600 + (i % 900) : 100 + (i % 2000));
  for (let i = 0; i < n; i++) if (i % 10 !== 0) t.del(w, key(i));
  st = t.stat(w);
  checkTree(w, [t]);
  assert.equal(st.entries, n / 10);
  for (let i = 0; i < n; i += 10) t.del(w, key(i));
  assert.equal(w.livePages(), 1);
});

test('scan with keysOnly reads no overflow page: count and clear never load the values they skip', () => {
  for (const dup of ['none', 'unsorted'] as const) {
    const w = new MemStore(512);
    const t = new BTree(BTree.create(w), dup);
    for (let i = 0; i < 40; i++) t.put(w, Buffer.from(`k${String(i).padStart(2, '0')}`), Buffer.alloc(3000, i));
    let reads = 0;
    const counting = { pageSize: w.pageSize, page: (n: number) => (reads++, w.page(n)) };
    const withValues = t.scan(counting, { gte: Buffer.from('k10'), lt: Buffer.from('k30') }, () => {});
    const valueReads = reads;
    reads = 0;
    const keys: string[] = [];
    const keysOnly = t.scan(counting, { gte: Buffer.from('k10'), lt: Buffer.from('k30'), keysOnly: true }, (k, v) => void keys.push(`${k}:${v.length}`));
    assert.equal(withValues, 20);
    assert.equal(keysOnly, 20);
    assert.deepEqual(keys, Array.from({ length: 20 }, (_, i) => `k${i + 10}:0`));
    assert.ok(valueReads >= 20 * 6, `${dup}: ${valueReads} page reads with values (each a 6-page chain)`);
    assert.ok(reads < 20, `${dup}: ${reads} page reads for keys only`);
  }
});
