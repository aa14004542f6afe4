// The ordered key encoding (docs/FORMAT.md §Ordered key encoding): random keys round-trip, and
// memcmp of the encodings orders them as the values compare; crafted bytes decode to a typed
// ENCODING error, never a hang or a wrong key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOrdered, encodeOrdered, encodeOrderedPrefix, type OrderedKey, resolveEncoding } from './encoding.js';
import { CairnError } from '../util/errors.js';
import { randInt, rng, testSeeds } from '../util/random.js';
import { compareOrdered, randomKey } from '../testing/ordered.js';

test('ordered keys: random keys round-trip and sort by memcmp exactly as the values compare', () => {
  for (const seed of testSeeds(3)) {
    const r = rng(seed);
    const keys = Array.from({ length: 600 }, () => randomKey(r));
    try {
      for (const k of keys) assert.deepEqual(decodeOrdered(encodeOrdered(k)), k);
      for (let i = 0; i < 3000; i++) {
        const a = keys[randInt(r, keys.length)]!;
        const b = keys[randInt(r, keys.length)]!;
        assert.equal(Math.sign(Buffer.compare(encodeOrdered(a), encodeOrdered(b))), compareOrdered(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }
    } catch (e) {
      console.error(`replay: CAIRN_SEED=${seed} node --test dist/env/encoding.test.js`);
      throw e;
    }
  }
});

test('ordered keys: -0 is 0; NaN, undefined, objects and deep nesting are INVALID_ARGUMENT', () => {
  assert.deepEqual(encodeOrdered(-0), encodeOrdered(0));
  const invalid = (e: unknown) => e instanceof CairnError && e.code === 'INVALID_ARGUMENT';
  assert.throws(() => encodeOrdered(NaN), invalid);
  assert.throws(() => encodeOrdered(undefined as unknown as OrderedKey), invalid);
  assert.throws(() => encodeOrdered({} as unknown as OrderedKey), invalid);
  assert.throws(() => encodeOrdered(['a', 'x\ud800']), invalid, 'a lone surrogate would be stored as U+FFFD');
  assert.throws(() => resolveEncoding<string>('utf8', 'key')!.encode('\udc00'), invalid);
  assert.deepEqual(decodeOrdered(encodeOrdered('\ud83d\ude00')), '😀', 'a surrogate pair is one code point');
  let deep: OrderedKey = 1;
  for (let i = 0; i < 70; i++) deep = [deep];
  assert.throws(() => encodeOrdered(deep), invalid);
});

test('ordered keys: a prefix selects the strings and arrays that start with it', () => {
  const p = encodeOrderedPrefix(['user1']);
  const starts = (k: OrderedKey) => encodeOrdered(k).subarray(0, p.length).equals(p);
  assert.ok(starts(['user1', 0]) && starts(['user1']) && starts(['user1', 'x', [1]]));
  assert.ok(!starts(['user10', 0]) && !starts(['user', 1]) && !starts('user1'));
  const s = encodeOrderedPrefix('ab');
  assert.ok(encodeOrdered('abc').subarray(0, s.length).equals(s) && !encodeOrdered('a').subarray(0, s.length).equals(s));
});

test('ordered keys: crafted bytes decode to a key or an ENCODING error, never a hang, and what decodes re-encodes to the same bytes', () => {
  for (const seed of testSeeds(3)) {
    const r = rng(seed);
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      // Mostly valid encodings with a byte changed, cut or added; some pure noise.
      let b = encodeOrdered(randomKey(r));
      const mode = randInt(r, 4);
      if (mode === 0 && b.length > 0) b[randInt(r, b.length)] = randInt(r, 256);
      else if (mode === 1) b = b.subarray(0, randInt(r, b.length + 1));
      else if (mode === 2) b = Buffer.concat([b, Buffer.from([randInt(r, 8)])]);
      else b = Buffer.from(Array.from({ length: randInt(r, 24) }, () => randInt(r, 8)));
      try {
        const k = decodeOrdered(b);
        decoded++;
        const again = encodeOrdered(k);
        // Only -0 and non-canonical NaN-free doubles may differ; everything else is canonical.
        if (!again.equals(b)) assert.ok(b[0] === 0x04 && decodeOrdered(again) === 0, `seed ${seed}: ${b.toString('hex')} decodes to ${JSON.stringify(k)}, which encodes as ${again.toString('hex')}`);
      } catch (e) {
        assert.ok(e instanceof CairnError && e.code === 'ENCODING', `seed ${seed}: ${b.toString('hex')}: ${String(e)}`);
        refused++;
      }
    }
    assert.ok(decoded > 1000 && refused > 1000, `seed ${seed}: ${decoded} decoded, ${refused} refused`);
  }
});

test('encoding options: the names each kind takes, custom objects, anything else INVALID_ARGUMENT', () => {
  assert.equal(resolveEncoding('binary', 'key'), undefined);
  assert.equal(resolveEncoding(undefined, 'value'), undefined);
  assert.equal(resolveEncoding<string>('utf8', 'value')!.decode(Buffer.from('é')), 'é');
  assert.deepEqual(resolveEncoding<unknown>('json', 'value')!.decode(Buffer.from('{"a":[1]}')), { a: [1] });
  const custom = { encode: (n: number) => Buffer.from([n]), decode: (b: Buffer) => b[0]! };
  assert.equal(resolveEncoding<number>(custom, 'key'), custom);
  const invalid = (e: unknown) => e instanceof CairnError && e.code === 'INVALID_ARGUMENT';
  assert.throws(() => resolveEncoding('json' as never, 'key'), invalid, 'json is for values');
  assert.throws(() => resolveEncoding('ordered' as never, 'value'), invalid, 'ordered is for keys');
  assert.throws(() => resolveEncoding('latin1' as never, 'value'), invalid);
  assert.throws(() => resolveEncoding({ encode: 1 } as never, 'value'), invalid);
  assert.throws(() => resolveEncoding<unknown>('json', 'value')!.encode(undefined), invalid);
  assert.throws(() => resolveEncoding<unknown>('json', 'value')!.decode(Buffer.from('{')), (e: unknown) => e instanceof CairnError && e.code === 'ENCODING');
});
