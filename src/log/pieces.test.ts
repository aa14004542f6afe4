// The log reader in pieces (reader.ts: files read PIECE_BYTES at a time into a sliding window)
// against the same reader holding each file whole, on seeded random logs: records across piece
// boundaries, records larger than a piece and than the window (one as large as a log file
// allows), a torn tail, a corrupt record across a boundary followed by valid ones, a corrupt
// record in an earlier file. Both readings must yield the same records and end, or throw the
// same error (class, file, offset, message); on the intact log, the records the writer wrote.
// With reuseBuffer, bodies are kept as views and copied in beforeReuse only when they lie in the
// buffer it names (as recovery does): a window overwritten unannounced shows up as a changed body. Replay: CAIRN_SEED=<seed>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimVfs } from '../io/sim.js';
import { envId, setup } from '../testing/logkit.js';
import { LogWriter } from './writer.js';
import { LogReader, type LogReaderOptions, within } from './reader.js';
import { LOG_HEADER_SIZE, logFileName } from './file.js';
import { type Lsn, lsnFile, lsnOffset } from '../util/lsn.js';
import { randBytes, randInt, rng, testSeeds } from '../util/random.js';
import { zlib } from '../util/node.js';

const FILE_SIZE = 128 * 1024;
/** The largest page_image body a file takes: the file less its header, a record header, 17 bytes of fields. */
const LARGEST_IMAGE = FILE_SIZE - LOG_HEADER_SIZE - 8 - 17;

interface Written {
  lsn: Lsn;
  next: Lsn;
}

/** A random log of several files; returns the records as written. */
async function randomLog(vfs: SimVfs, seed: number): Promise<Written[]> {
  const r = rng(seed);
  const w = LogWriter.create(vfs, '/env', { envId, fileSize: FILE_SIZE, bufferSize: 8192 });
  const out: Written[] = [];
  const largestAt = 5 + randInt(r, 30);
  let txn = 0;
  for (let i = 0; w.currentFile < 4 || i < 60 || out.filter((x) => lsnFile(x.lsn) === w.currentFile).length < 6; i++) {
    const pick = r();
    const size = i === largestAt ? LARGEST_IMAGE : pick < 0.1 ? 4096 + randInt(r, 40_000) : pick < 0.6 ? 1 + randInt(r, 300) : 4096;
    const rec =
      pick > 0.85
        ? ({ type: 'commit', txn: ++txn, time: 1_700_000_000_000 + i, durable: w.end } as const)
        : i % 3 === 0
          ? ({ type: 'page_delta', txn, file: 1, pgno: i, prev: 0, ranges: randBytes(r, Math.min(size, 2000)) } as const)
          : ({ type: 'page_image', txn, file: 1, pgno: i, image: randBytes(r, size) } as const);
    const before = w.end;
    const lsn = w.append(rec);
    assert.ok(lsn >= before);
    out.push({ lsn, next: w.end });
  }
  await w.flush();
  w.close();
  return out;
}

function patch(vfs: SimVfs, fileNo: number, at: number, bytes: Buffer): void {
  const h = vfs.open(`/env/${logFileName(fileNo)}`);
  h.write(bytes, at);
  h.close();
}

/** What a reading gave: the records (LSN, next, crc32 of the body) and the end, or the error. */
function readAll(vfs: SimVfs, options: LogReaderOptions & { keepViews?: boolean }): string[] {
  const got: { lsn: Lsn; next: Lsn; body: Buffer }[] = [];
  const reader = new LogReader(vfs, '/env', envId, {
    ...options,
    beforeReuse: (reused) => {
      for (const g of got) if (within(g.body, reused)) g.body = Buffer.from(g.body);
    },
  });
  const out: string[] = [];
  try {
    for (const raw of reader.records()) got.push({ ...raw });
    out.push(`end ${reader.end}`);
  } catch (e) {
    const err = e as Error & { file?: string; offset?: number };
    out.push(`${err.constructor.name} ${err.file} ${err.offset} ${err.message}`);
  }
  return [...got.map((g) => `${g.lsn} ${g.next} ${zlib.crc32(g.body)}`), ...out];
}

type Damage = 'intact' | 'torn' | 'corrupt-last' | 'corrupt-earlier';

/** The log of `seed`, damaged; returns the vfs and the records written. */
async function damagedLog(seed: number, damage: Damage): Promise<{ vfs: SimVfs; written: Written[] }> {
  const vfs = setup();
  const written = await randomLog(vfs, seed);
  const r = rng(seed * 7919 + 1);
  const lastFile = lsnFile(written[written.length - 1]!.lsn);
  const inLast = written.filter((x) => lsnFile(x.lsn) === lastFile);
  const span = (x: Written) => lsnOffset(x.next) - lsnOffset(x.lsn);
  if (damage === 'torn') {
    // The tail from inside a record on was never written: zeros.
    const k = inLast[randInt(r, inLast.length)]!;
    const from = lsnOffset(k.lsn) + randInt(r, span(k));
    patch(vfs, lastFile, from, Buffer.alloc(FILE_SIZE - from));
  } else if (damage === 'corrupt-last' || damage === 'corrupt-earlier') {
    // One byte flipped in the largest record of the file (it spans pieces), then valid ones.
    const pool = damage === 'corrupt-last' ? inLast.slice(0, -1) : written.filter((x) => lsnFile(x.lsn) < lastFile);
    const k = pool.reduce((a, b) => (span(b) > span(a) ? b : a));
    const at = lsnOffset(k.lsn) + 8 + randInt(r, span(k) - 8);
    const h = vfs.open(`/env/${logFileName(lsnFile(k.lsn))}`);
    const byte = Buffer.alloc(1);
    h.read(byte, at);
    h.close();
    byte[0]! ^= 1 << randInt(r, 8);
    patch(vfs, lsnFile(k.lsn), at, byte);
  }
  return { vfs, written };
}

for (const seed of testSeeds(6)) {
  for (const damage of ['intact', 'torn', 'corrupt-last', 'corrupt-earlier'] as const) {
    test(`log read in pieces = read whole, ${damage} (seed ${seed})`, async () => {
      const { vfs, written } = await damagedLog(seed, damage);
      const whole = readAll(vfs, { pieceBytes: FILE_SIZE, windowBytes: FILE_SIZE });
      if (damage === 'intact') {
        const last = written[written.length - 1]!;
        assert.deepEqual(
          whole.map((l) => l.split(' ').slice(0, 2).join(' ')),
          [...written.map((x) => `${x.lsn} ${x.next}`), `end ${last.next}`],
          `seed ${seed}: the records written`,
        );
      } else if (damage === 'corrupt-earlier') {
        assert.match(whole[whole.length - 1]!, /^CorruptionError \S+ \d+ .*log records end at offset/, `seed ${seed}`);
      }
      const r = rng(seed);
      for (let i = 0; i < 6; i++) {
        const pieceBytes = 1 + randInt(r, i < 3 ? 600 : 9000);
        const windowBytes = pieceBytes + randInt(r, 3 * pieceBytes);
        for (const reuseBuffer of [true, false]) {
          const got = readAll(vfs, { pieceBytes, windowBytes, reuseBuffer });
          assert.deepEqual(got, whole, `seed ${seed}, ${damage}, pieces of ${pieceBytes} in a window of ${windowBytes}, reuseBuffer ${reuseBuffer} (CAIRN_SEED=${seed} to replay)`);
        }
      }
      // The defaults (64 KiB pieces, a 1 MiB window: each file fits whole).
      assert.deepEqual(readAll(vfs, { reuseBuffer: true }), whole, `seed ${seed}, ${damage}, defaults`);
    });
  }
}
