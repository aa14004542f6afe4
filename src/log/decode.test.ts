// decodeRecord's fast path (records.ts decodeFrequent: page_image, page_delta, commit) against
// the table walk (decodeByTable) on seeded random bodies: well-formed records of every type,
// then the same bodies cut short, lengthened, with a length field changed, with random bytes.
// Both must give the same record, or throw the same error. Replay: CAIRN_SEED=<seed>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeByTable, decodeRecord, encodeRecord, type LogRecord } from './records.js';
import { makeLsn } from '../util/lsn.js';
import { randBytes, randInt, rng, testSeeds } from '../util/random.js';

function randomRecord(r: () => number): LogRecord {
  const u32 = () => randInt(r, 0x1_0000_0000);
  const lsn = () => makeLsn(randInt(r, 1000), randInt(r, 0x1_0000_0000));
  switch (randInt(r, 7)) {
    case 0:
      return { type: 'page_image', txn: u32(), file: u32(), pgno: u32(), image: randBytes(r, randInt(r, 5000)) };
    case 1:
      return { type: 'page_delta', txn: u32(), file: u32(), pgno: u32(), prev: lsn(), ranges: randBytes(r, randInt(r, 300)) };
    case 2:
      return { type: 'commit', txn: u32(), time: 1_700_000_000_000 + randInt(r, 1e9), durable: lsn() };
    case 3:
      return { type: 'file_create', txn: u32(), file: u32(), name: `db${u32()}`, pageSize: 4096 };
    case 4:
      return { type: 'file_remove', txn: u32(), file: u32(), name: `db${u32()}` };
    case 5:
      return { type: 'file_rename', txn: u32(), file: u32(), name: 'a', newName: `b${u32()}` };
    default:
      return { type: 'checkpoint', redo: lsn(), prev: lsn(), time: 1_700_000_000_000, durable: lsn(), files: `1 db${u32()}\n` };
  }
}

/** The same body, damaged one of several ways (or not at all). */
function damage(r: () => number, body: Buffer): Buffer {
  const out = Buffer.from(body);
  switch (randInt(r, 6)) {
    case 0:
      return out;
    case 1:
      return out.subarray(0, randInt(r, out.length));
    case 2:
      return Buffer.concat([out, randBytes(r, 1 + randInt(r, 8))]);
    case 3: {
      // A length field (page_image at 13, page_delta at 21) or any u32 nudged.
      const at = [13, 21, 1 + randInt(r, Math.max(1, out.length - 4))][randInt(r, 3)]!;
      if (at + 4 <= out.length) out.writeUInt32LE((out.readUInt32LE(at) + 1 + randInt(r, 3) - 2) >>> 0, at);
      return out;
    }
    case 4:
      return randBytes(r, randInt(r, 40));
    default:
      out[0] = randInt(r, 9);
      return out;
  }
}

function outcome(decode: (b: Buffer) => LogRecord, body: Buffer): unknown {
  try {
    return decode(body);
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

for (const seed of testSeeds(4)) {
  test(`decodeRecord = the table walk on random and damaged bodies (seed ${seed})`, () => {
    const r = rng(seed);
    let fast = 0;
    for (let i = 0; i < 3000; i++) {
      const rec = randomRecord(r);
      const body = i % 2 === 0 ? encodeRecord(rec) : damage(r, encodeRecord(rec));
      const want = outcome(decodeByTable, body);
      if (i % 2 === 0) assert.deepEqual(want, rec, `seed ${seed}: the table walk decodes what was encoded`);
      assert.deepEqual(outcome(decodeRecord, body), want, `seed ${seed}, body ${body.toString('hex').slice(0, 80)} (CAIRN_SEED=${seed} to replay)`);
      if (typeof want !== 'string' && ['page_image', 'page_delta', 'commit'].includes((want as LogRecord).type)) fast++;
    }
    assert.ok(fast > 500, `seed ${seed}: ${fast} well-formed records of the fast path's types`);
  });
}
