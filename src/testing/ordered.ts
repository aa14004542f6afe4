// Test support for the ordered key encoding: the order it promises, written independently of
// its byte format, and random keys that reach every type and edge (env/encoding.test.ts,
// env/dbapi.test.ts).

import type { OrderedKey } from '../env/encoding.js';
import { randInt } from '../util/random.js';

/** The order the encoding promises: null < false < true < numbers < strings (by code point) < arrays (element by element, shorter first). */
function rank(v: OrderedKey): number {
  return v === null ? 0 : v === false ? 1 : v === true ? 2 : typeof v === 'number' ? 3 : typeof v === 'string' ? 4 : 5;
}
function cmpCodePoints(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}
export function compareOrdered(a: OrderedKey, b: OrderedKey): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (typeof a === 'number') return a === (b as number) ? 0 : a < (b as number) ? -1 : 1;
  if (typeof a === 'string') return cmpCodePoints(a, b as string);
  if (Array.isArray(a)) {
    const bb = b as readonly OrderedKey[];
    for (let i = 0; i < Math.min(a.length, bb.length); i++) {
      const c = compareOrdered(a[i] as OrderedKey, bb[i]!);
      if (c !== 0) return c;
    }
    return a.length === bb.length ? 0 : a.length < bb.length ? -1 : 1;
  }
  return 0;
}

const SPECIAL = [0, 1, -1, 0.5, -0.5, Infinity, -Infinity, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 2 ** 53, -(2 ** 53), 1e-300];
const CHARS = ['', 'a', 'b', '\u0000', '\u0001', '\u00ff', 'é', '\uffff', '😀', 'ab', 'a\u0000b', 'z'];

export function randomKey(r: () => number, depth = 0): OrderedKey {
  switch (randInt(r, depth > 2 ? 4 : 5)) {
    case 0:
      return [null, false, true][randInt(r, 3)]!;
    case 1:
      return randInt(r, 3) === 0 ? SPECIAL[randInt(r, SPECIAL.length)]! : (r() - 0.5) * 10 ** randInt(r, 12);
    case 2:
    case 3: {
      let s = '';
      for (let i = randInt(r, 4); i > 0; i--) s += CHARS[randInt(r, CHARS.length)];
      return s;
    }
    default:
      return Array.from({ length: randInt(r, 4) }, () => randomKey(r, depth + 1));
  }
}
