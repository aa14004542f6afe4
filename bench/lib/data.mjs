// Seeded, deterministic data for every engine: the same keys, the same values, the same
// orders and the same random picks, whatever engine runs them.
//
// Keys are 16-byte zero-padded decimal numbers ("0000000000000042"), so their byte order is
// their numeric order. The value of key i is 100 pseudo-random bytes that depend only on
// (seed, i): they are generated on demand, never held for the whole data set, so a run's
// peak RSS is the engine's and not the harness's.

export const KEY_BYTES = 16;
export const VALUE_BYTES = 100;
const ENTRY_BYTES = KEY_BYTES + VALUE_BYTES;

/** 32-bit integer hash (lowbias32 by Chris Wellons). @param {number} x */
export function mix32(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Small fast seeded generator (splitmix-style counter through mix32). */
export class Rng {
  /** @param {number} seed */
  constructor(seed) {
    this.state = mix32(seed ^ 0x2545f491) | 0;
  }
  /** @returns {number} uniform in [0, 2^32) */
  u32() {
    this.state = (this.state + 0x9e3779b9) | 0;
    return mix32(this.state);
  }
  /** @param {number} n @returns {number} uniform integer in [0, n) for n <= 2^32 */
  below(n) {
    return Math.floor((this.u32() / 4294967296) * n);
  }
}

/** Writes key i at buf[off..off+16). @param {Uint8Array} buf @param {number} off @param {number} i */
export function writeKey(buf, off, i) {
  for (let p = off + KEY_BYTES - 1; p >= off; p--) {
    buf[p] = 48 + (i % 10);
    i = Math.floor(i / 10);
  }
}

/** Writes the 100-byte value of key i at buf[off..off+100). */
export function writeValue(/** @type {Uint8Array} */ buf, /** @type {number} */ off, /** @type {number} */ i, /** @type {number} */ seed) {
  let s = mix32(seed ^ mix32((i + 0x632be5ab) | 0)) | 0;
  for (let j = 0; j < VALUE_BYTES; j += 4) {
    s = (s + 0x9e3779b9) | 0;
    const r = mix32(s);
    buf[off + j] = r;
    buf[off + j + 1] = r >>> 8;
    buf[off + j + 2] = r >>> 16;
    buf[off + j + 3] = r >>> 24;
  }
}

/** @param {number} i */
export function keyOf(i) {
  const b = Buffer.allocUnsafe(KEY_BYTES);
  writeKey(b, 0, i);
  return b;
}

/** @param {number} i @param {number} seed */
export function valueOf(i, seed) {
  const b = Buffer.allocUnsafe(VALUE_BYTES);
  writeValue(b, 0, i, seed);
  return b;
}

/**
 * The value written by the c-th commit of a writer: differs from the loaded value of key i and
 * from every other commit's (an engine may skip the write of an unchanged value: SQLite does).
 * @param {number} i @param {number} seed @param {number} c
 */
export function freshValue(i, seed, c) {
  return valueOf(i, (mix32(seed ^ 0x5bd1e995) + Math.imul(c + 1, 0x9e3779b9)) | 0);
}

/**
 * A batch of entries as Buffer views into one fresh block (never reused, so an engine may
 * keep references to the Buffers it was given).
 * @param {ArrayLike<number> | null} order  key indices, or null for the identity order
 * @param {number} start @param {number} count @param {number} seed
 * @returns {{ keys: Buffer[], values: Buffer[] }}
 */
export function makeBatch(order, start, count, seed) {
  const block = Buffer.allocUnsafe(count * ENTRY_BYTES);
  const keys = new Array(count);
  const values = new Array(count);
  for (let j = 0; j < count; j++) {
    const i = order ? order[start + j] : start + j;
    const off = j * ENTRY_BYTES;
    writeKey(block, off, i);
    writeValue(block, off + KEY_BYTES, i, seed);
    keys[j] = block.subarray(off, off + KEY_BYTES);
    values[j] = block.subarray(off + KEY_BYTES, off + ENTRY_BYTES);
  }
  return { keys, values };
}

/** Seeded Fisher–Yates permutation of 0..n-1. @param {number} n @param {number} seed */
export function permutation(n, seed) {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = new Rng(seed ^ 0x51ed270b);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * `count` keys picked uniformly from 0..n-1, as views into one block (for the read pool).
 * @param {number} n @param {number} count @param {number} seed
 * @returns {{ keys: Buffer[], indices: Uint32Array }}
 */
export function keyPool(n, count, seed) {
  const rng = new Rng(seed ^ 0x7a3c9e11);
  const block = Buffer.allocUnsafe(count * KEY_BYTES);
  const keys = new Array(count);
  const indices = new Uint32Array(count);
  for (let j = 0; j < count; j++) {
    const i = rng.below(n);
    indices[j] = i;
    writeKey(block, j * KEY_BYTES, i);
    keys[j] = block.subarray(j * KEY_BYTES, (j + 1) * KEY_BYTES);
  }
  return { keys, indices };
}
