// Randomized model test: thousands of mixed operations against a sorted-array model, for every
// duplicate mode and page sizes 512 and 4096, with random key/value sizes including overflow.
// Replay a failure with CAIRN_SEED=<seed printed in the message> node --test dist/btree.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BTree, type DupMode, type ScanOptions } from './btree.js';
import type { PageReader } from '../page/store.js';
import { newTree, checkTree, maxCell } from '../testing/btreekit.js';
import { rng } from '../util/random.js';

const SEED = process.env.CAIRN_SEED !== undefined ? Number(process.env.CAIRN_SEED) >>> 0 : (Math.random() * 0x100000000) >>> 0;
const OPS = Number(process.env.CAIRN_MODEL_OPS ?? 2500);

const mulberry32 = rng; // the shared seeded generator (util/random.ts)

type Entry = [Buffer, Buffer];

/** The reference: entries in the order the tree must present them. */
class Model {
  entries: Entry[] = [];
  constructor(readonly dup: DupMode) {}

  /** First index whose key >= k. */
  lower(k: Buffer): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.entries[mid][0], k) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /** First index whose key > k. */
  upper(k: Buffer): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.entries[mid][0], k) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  has(k: Buffer): boolean {
    const i = this.lower(k);
    return i < this.entries.length && this.entries[i][0].equals(k);
  }
  put(k: Buffer, v: Buffer, noOverwrite: boolean): boolean {
    if (noOverwrite && this.has(k)) return false;
    const lo = this.lower(k);
    const hi = this.upper(k);
    if (this.dup === 'none') {
      if (lo < hi) this.entries[lo] = [k, v];
      else this.entries.splice(lo, 0, [k, v]);
    } else if (this.dup === 'unsorted') {
      this.entries.splice(hi, 0, [k, v]);
    } else {
      let i = lo;
      while (i < hi && Buffer.compare(this.entries[i][1], v) < 0) i++;
      if (i < hi && this.entries[i][1].equals(v)) return true;
      this.entries.splice(i, 0, [k, v]);
    }
    return true;
  }
  del(k: Buffer, v?: Buffer): number {
    const lo = this.lower(k);
    const hi = this.upper(k);
    if (v === undefined) {
      this.entries.splice(lo, hi - lo);
      return hi - lo;
    }
    let n = 0;
    for (let i = hi - 1; i >= lo; i--)
      if (this.entries[i][1].equals(v)) {
        this.entries.splice(i, 1);
        n++;
      }
    return n;
  }
  getAll(k: Buffer): Buffer[] {
    return this.entries.slice(this.lower(k), this.upper(k)).map((e) => e[1]);
  }
  scan(o: ScanOptions): Entry[] {
    let out = this.entries.filter(
      ([k]) =>
        (o.gte === undefined || Buffer.compare(k, o.gte) >= 0) &&
        (o.gt === undefined || Buffer.compare(k, o.gt) > 0) &&
        (o.lte === undefined || Buffer.compare(k, o.lte) <= 0) &&
        (o.lt === undefined || Buffer.compare(k, o.lt) < 0),
    );
    if (o.reverse) out = out.reverse();
    if (o.limit !== undefined && o.limit >= 0) out = out.slice(0, o.limit);
    return out;
  }
}

const hx = (e: Entry | undefined): string => (e === undefined ? 'undefined' : `${e[0].toString('hex')}=${e[1].toString('hex')}`);

function run(ps: number, dup: DupMode): void {
  const rnd = mulberry32(SEED ^ (ps * 31 + dup.length * 7));
  const int = (n: number): number => Math.floor(rnd() * n);
  const { w, t } = newTree(ps, dup);
  const m = new Model(dup);
  let step = 0;
  let what = '';
  const ctx = (): string => `CAIRN_SEED=${SEED} ps=${ps} dup=${dup} op#${step} ${what}`;
  const mc = maxCell(ps);
  const bigPrefix = Buffer.alloc(4 * ps, 0x61);
  const alphabet = [0x00, 0x01, 0x61, 0x62, 0xfe, 0xff];

  // Key classes: short keys over a tiny alphabet (collisions, prefixes, 0x00/0xff), keys sharing
  // a long prefix near the inline limit (deep trees, long and overflowing separators), and keys
  // larger than the page.
  const prefixLens = [mc >> 1, mc - 30, mc + 20];
  const randKey = (): Buffer => {
    if (m.entries.length > 0 && rnd() < 0.3) return m.entries[int(m.entries.length)][0];
    const r = rnd();
    if (r < 0.03) {
      const head = bigPrefix.subarray(0, ps / 2 + int(3 * ps));
      return Buffer.concat([head, Buffer.from([alphabet[int(6)], alphabet[int(6)]])]);
    }
    let head = bigPrefix.subarray(0, 0);
    if (r < 0.3) head = bigPrefix.subarray(0, prefixLens[int(3)]);
    const len = r < 0.4 && r >= 0.3 ? int(3) : 1 + int(6);
    const k = Buffer.alloc(head.length + len);
    head.copy(k);
    for (let i = head.length; i < k.length; i++) k[i] = alphabet[int(6)];
    return k;
  };
  const randVal = (): Buffer => {
    const r = rnd();
    const len = r < 0.04 ? ps + int(3 * ps) : r < 0.12 ? mc - 12 + int(24) : int(40);
    const v = Buffer.alloc(len);
    v.fill(alphabet[int(6)]);
    if (len > 0) v[len - 1] = int(256);
    if (len > 1) v[int(len)] = int(256);
    return v;
  };

  const checkScan = (r: PageReader, model: Model): void => {
    const o: ScanOptions = {};
    if (rnd() < 0.5) o[rnd() < 0.5 ? 'gte' : 'gt'] = randKey();
    if (rnd() < 0.5) o[rnd() < 0.5 ? 'lte' : 'lt'] = randKey();
    if (rnd() < 0.3) o.reverse = true;
    if (rnd() < 0.3) o.limit = int(20);
    what = `scan ${JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : v])))}`;
    const got: string[] = [];
    t.scan(r, o, (k, v) => {
      got.push(hx([k, v]));
    });
    assert.deepEqual(got, model.scan(o).map(hx), ctx());
  };

  const checkCursor = (r: PageReader, model: Model): void => {
    const c = t.cursor(r);
    const n = model.entries.length;
    // model state: index in [0, n), or 'B' (before first) / 'A' (after last) / 'U' (unset)
    let s = 'U' as number | 'A' | 'B' | 'U';
    const land = (i: number, end: 'A' | 'B'): Entry | undefined => {
      if (i < 0 || i >= n) {
        s = end;
        return undefined;
      }
      s = i;
      return model.entries[i];
    };
    const steps = 1 + int(12);
    const log: string[] = [];
    for (let j = 0; j < steps; j++) {
      const r2 = rnd();
      let got: Entry | undefined;
      let want: Entry | undefined;
      if (j === 0 || r2 < 0.15) {
        const which = int(4);
        if (which === 0) {
          log.push('first');
          got = c.first();
          want = land(n > 0 ? 0 : -1, 'A');
        } else if (which === 1) {
          log.push('last');
          got = c.last();
          want = land(n - 1, 'B');
        } else if (which === 2) {
          const k = randKey();
          log.push(`seek ${k.toString('hex')}`);
          got = c.seek(k);
          want = land(model.lower(k), 'A');
        } else {
          const k = randKey();
          log.push(`seekLast ${k.toString('hex')}`);
          got = c.seekLast(k);
          want = land(model.upper(k) - 1, 'B');
        }
      } else if (r2 < 0.6) {
        log.push('next');
        got = c.next();
        if (s === 'A') want = undefined;
        else if (s === 'B' || s === 'U') want = land(n > 0 ? 0 : -1, 'A');
        else want = land(s + 1, 'A');
      } else {
        log.push('prev');
        got = c.prev();
        if (s === 'B') want = undefined;
        else if (s === 'A' || s === 'U') want = land(n - 1, 'B');
        else want = land(s - 1, 'B');
      }
      what = `cursor ${log.join(', ')}`;
      assert.equal(hx(got), hx(want), ctx());
    }
  };

  let snap: { r: PageReader; model: Model; at: number } | null = null;

  for (step = 0; step < OPS; step++) {
    // Phases: grow (mostly puts), mixed, shrink (mostly deletes).
    const phase = step < OPS * 0.4 ? 0 : step < OPS * 0.75 ? 1 : 2;
    let r = rnd();
    if (phase === 0 && r < 0.3) r = 0;
    if (phase === 2 && r < 0.3) r = 0.5;
    if (r < 0.45) {
      const k = randKey();
      const v = randVal();
      const no = rnd() < 0.1;
      what = `put ${k.toString('hex')} (${v.length} bytes) noOverwrite=${no}`;
      assert.equal(t.put(w, k, v, { noOverwrite: no }), m.put(k, v, no), ctx());
    } else if (r < 0.65) {
      const k = randKey();
      if (rnd() < 0.5 || m.entries.length === 0) {
        what = `del ${k.toString('hex')}`;
        assert.equal(t.del(w, k), m.del(k), ctx());
      } else {
        const v = rnd() < 0.7 ? m.entries[int(m.entries.length)][1] : randVal();
        what = `del ${k.toString('hex')} value (${v.length} bytes)`;
        assert.equal(t.del(w, k, v), m.del(k, v), ctx());
      }
    } else if (r < 0.75) {
      const k = randKey();
      what = `get ${k.toString('hex')}`;
      const all = m.getAll(k);
      assert.equal(t.get(w, k)?.toString('hex'), all[0]?.toString('hex'), ctx());
      assert.deepEqual(
        t.getAll(w, k).map((x) => x.toString('hex')),
        all.map((x) => x.toString('hex')),
        ctx(),
      );
    } else if (r < 0.85) {
      checkCursor(w, m);
    } else if (r < 0.95) {
      checkScan(w, m);
    } else if (snap === null) {
      const model = new Model(dup);
      model.entries = m.entries.slice();
      snap = { r: w.snapshot(), model, at: step };
    } else if (step - snap.at > 50) {
      what = `snapshot from op#${snap.at}`;
      checkCursor(snap.r, snap.model);
      checkScan(snap.r, snap.model);
      assert.deepEqual(snap.r === null ? [] : t.verify(snap.r), [], ctx());
      snap = null;
    }
    if (step % 250 === 249) {
      what = 'periodic check';
      if (process.env.CAIRN_MODEL_VERBOSE && step % 1000 === 999) console.log(ctx(), m.entries.length, JSON.stringify(t.stat(w)));
      checkTree(w, [t], ctx());
      assert.equal(t.count(w), m.entries.length, ctx());
    }
  }
  what = 'final check';
  checkTree(w, [t], ctx());
  assert.equal(t.count(w), m.entries.length, ctx());
  const c = t.cursor(w);
  const all: string[] = [];
  for (let e = c.first(); e; e = c.next()) all.push(hx(e));
  assert.deepEqual(all, m.entries.map(hx), ctx());
  // empty it again by deleting keys in random order: only the root must remain
  const keys = [...new Set(m.entries.map((e) => e[0].toString('hex')))];
  for (let i = keys.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  for (const [i, k] of keys.entries()) {
    what = `drain ${k}`;
    assert.equal(t.del(w, Buffer.from(k, 'hex')), m.del(Buffer.from(k, 'hex')), ctx());
    if (i % 200 === 199) checkTree(w, [t], ctx());
  }
  what = 'drained';
  assert.equal(w.livePages(), 1, ctx());
  checkTree(w, [t], ctx());
}

describe(`btree randomized model (CAIRN_SEED=${SEED})`, () => {
  for (const ps of [512, 4096])
    for (const dup of ['none', 'sorted', 'unsorted'] as const)
      test(`page ${ps}, dup ${dup}`, () => {
        run(ps, dup);
      });
});

export { BTree };
