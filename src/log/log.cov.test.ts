// The log's rarely taken paths (issue 4 item 9): malformed headers and record bodies, damaged
// or renamed files, a missing start file, a log that shrinks while read, the writer's failure
// paths (a failed write, a failed file switch) and its less common shapes (a record larger than
// the buffer, a synchronous flush, a lone committer's blocking fsync). Each case asserts the
// typed error, its file and offset, or the exact state left behind. Deterministic; ~0.2 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { commit, envId, oneCommitLog, opts, setup } from '../testing/logkit.js';
import type { FileHandle, Vfs } from '../io/vfs.js';
import { LogWriter } from './writer.js';
import { LogReader, listLogFiles } from './reader.js';
import { LOG_HEADER_SIZE, LOG_VERSION, decodeLogHeader, encodeLogHeader, logFileName, parseLogFileName, recordChecksum } from './file.js';
import { decodeRecord, encodeRecord, formatRecoverTime } from './records.js';
import { CairnError, CorruptionError, RunRecoveryError } from '../util/errors.js';
import { AssertionError } from '../util/assert.js';
import { lsnFile, lsnOffset, makeLsn } from '../util/lsn.js';
import { zlib } from '../util/node.js';
import { randBytes, randInt, rng, testSeeds } from '../util/random.js';


function patch(vfs: SimVfs, fileNo: number, at: number, bytes: Buffer): void {
  const h = vfs.open(`/env/${logFileName(fileNo)}`);
  h.write(bytes, at);
  h.close();
}

/** A record with a valid length and checksum at `at` in file 1, whatever its body. */
function plantRecord(vfs: SimVfs, fileNo: number, at: number, body: Buffer): void {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(recordChecksum(fileNo, at, body), 4);
  patch(vfs, fileNo, at, Buffer.concat([head, body]));
}

/** Writes `n` log files' worth of records; returns the writer's end and each file's record end. */
async function multiFile(vfs: SimVfs, files: number): Promise<number[]> {
  const w = LogWriter.create(vfs, '/env', opts);
  const ends: number[] = [];
  let i = 0;
  const add = () => {
    const before = w.end;
    w.append({ type: 'page_image', txn: ++i, file: 1, pgno: i, image: Buffer.alloc(500, i & 0xff) });
    if (lsnFile(w.end) !== lsnFile(before)) ends.push(lsnOffset(before));
  };
  while (w.currentFile < files) add();
  for (let k = 0; k < 3; k++) add();
  await w.flush();
  w.close();
  return ends;
}

test('recordChecksum is crc32 of (u32 fileNo, u32 offset, body), the salt folded in without a native call', () => {
  for (const seed of testSeeds(3)) {
    const r = rng(seed);
    for (let i = 0; i < 300; i++) {
      // Both u32s over their whole range (high bits set included), bodies of 0 to 300 bytes.
      const fileNo = randInt(r, 2) === 0 ? randInt(r, 100) : randInt(r, 0xffff_ffff);
      const offset = randInt(r, 0xffff_ffff);
      const body = randBytes(r, randInt(r, 300));
      const salted = Buffer.alloc(8 + body.length);
      salted.writeUInt32LE(fileNo, 0);
      salted.writeUInt32LE(offset, 4);
      body.copy(salted, 8);
      assert.equal(recordChecksum(fileNo, offset, body), zlib.crc32(salted), `seed ${seed}, case ${i}`);
    }
  }
});

test('log header decoding refuses short, foreign, damaged and future-version headers', () => {
  const good = encodeLogHeader({ fileNo: 3, fileSize: 65536, envId, prevEnd: 1234 });
  assert.deepEqual(decodeLogHeader(good), { fileNo: 3, fileSize: 65536, envId, prevEnd: 1234, history: Buffer.alloc(8), parent: Buffer.alloc(8) }, 'no history: zero (unknown)');
  const forked = { fileNo: 4, fileSize: 65536, envId, prevEnd: 64, history: Buffer.alloc(8, 0x5a), parent: Buffer.alloc(8, 0xa5) };
  assert.deepEqual(decodeLogHeader(encodeLogHeader(forked)), forked, 'history and parent round-trip');
  assert.equal(decodeLogHeader(good.subarray(0, LOG_HEADER_SIZE - 1)), undefined, 'short');
  const foreign = Buffer.from(good);
  foreign.write('SQLITE3\0', 0, 'latin1');
  assert.equal(decodeLogHeader(foreign), undefined, 'another magic');
  const flipped = Buffer.from(good);
  flipped[56]! ^= 1; // a reserved byte: only the crc can tell
  assert.equal(decodeLogHeader(flipped), undefined, 'bad crc');
  const future = Buffer.from(good);
  future.writeUInt32LE(LOG_VERSION + 1, 8);
  future.writeUInt32LE(zlib.crc32(future.subarray(0, 60)), 60);
  assert.equal(decodeLogHeader(future), undefined, 'a later format version is not read as ours');
  assert.equal(parseLogFileName('log.0000000012'), 12);
  for (const n of ['log.12', 'log.00000000012', 'xlog.0000000012', 'log.0000000012.tmp']) assert.equal(parseLogFileName(n), undefined, n);
});

test('record bodies that do not match the table are CORRUPT errors naming the type', () => {
  const body = encodeRecord({ type: 'file_create', txn: 1, file: 2, name: 'a.db', pageSize: 4096 });
  assert.throws(() => decodeRecord(Buffer.from([0x63, 0, 0, 0, 0])), (e: unknown) => e instanceof CairnError && e.code === 'CORRUPT' && /unknown log record type 99/.test(e.message));
  assert.throws(() => decodeRecord(body.subarray(0, body.length - 2)), /log record file_create is truncated/);
  assert.throws(() => decodeRecord(body.subarray(0, 3)), /log record file_create is truncated/);
  assert.throws(() => decodeRecord(Buffer.concat([body, Buffer.alloc(3)])), /log record file_create has 3 trailing bytes/);
  // A string field whose length runs past the body.
  const long = Buffer.from(body);
  long.writeUInt32LE(1000, 9);
  assert.throws(() => decodeRecord(long), /truncated/);
  assert.match(formatRecoverTime(new Date(2026, 0, 2, 3, 4, 5).getTime()), /^202601020304\.05$/);
});

test('no log directory, no log files: nothing to read, the end is where the caller started', () => {
  const vfs = setup();
  assert.deepEqual(listLogFiles(vfs, '/nowhere'), []);
  const r = new LogReader(vfs, '/nowhere', envId);
  assert.equal(r.findEnd(makeLsn(4, 100)), makeLsn(4, 100));
  assert.equal(new LogReader(vfs, '/env', envId).findEnd(), undefined);
});

test('a log file renamed over another number is refused with the header offset', async () => {
  const vfs = setup();
  await multiFile(vfs, 2);
  vfs.rename(`/env/${logFileName(2)}`, `/env/${logFileName(3)}`);
  const r = new LogReader(vfs, '/env', envId);
  assert.throws(
    () => r.findEnd(makeLsn(3, LOG_HEADER_SIZE)),
    (e: unknown) => e instanceof CorruptionError && e.offset === 12 && e.file.endsWith(logFileName(3)) && /log header says file 2/.test(e.message),
  );
});

test('reading from a file that is gone names it and the LSN it was needed from', async () => {
  const vfs = setup();
  await multiFile(vfs, 2);
  vfs.unlink(`/env/${logFileName(1)}`);
  assert.throws(() => new LogReader(vfs, '/env', envId).findEnd(makeLsn(1, 500)), (e: unknown) => e instanceof CairnError && e.code === 'CORRUPT' && /log\.0000000001 needed from LSN \[1\]\[500\] is missing/.test(e.message));
});

test('a damaged header: of the first file is corruption; of a middle file too; of the last file a torn creation, unless records follow it', async () => {
  // The only file.
  let vfs = setup();
  await oneCommitLog(vfs);
  patch(vfs, 1, 0, Buffer.alloc(8));
  assert.throws(() => new LogReader(vfs, '/env', envId).findEnd(), (e: unknown) => e instanceof CorruptionError && e.offset === 0 && /log file header is damaged/.test(e.message));

  // A middle one: file 2 of 3, reached from file 1.
  vfs = setup();
  await multiFile(vfs, 3);
  patch(vfs, 2, 0, Buffer.alloc(8));
  assert.throws(() => new LogReader(vfs, '/env', envId).findEnd(), (e: unknown) => e instanceof CorruptionError && e.file.endsWith(logFileName(2)) && e.offset === 0);

  // The last one, reached from the one before: made but its header never became durable (and so
  // no record either: the header is durable before the first record), so the log ends where the
  // previous file's records end.
  vfs = setup();
  const ends = await multiFile(vfs, 2);
  patch(vfs, 2, 0, Buffer.alloc(vfs.stat(`/env/${logFileName(2)}`)!.size));
  const r = new LogReader(vfs, '/env', envId);
  assert.equal(r.findEnd(), makeLsn(1, ends[0]!));
  // With records after it, the damaged header of the last file is corruption, not a torn creation.
  vfs = setup();
  await multiFile(vfs, 2);
  patch(vfs, 2, 0, Buffer.alloc(LOG_HEADER_SIZE));
  assert.throws(() => new LogReader(vfs, '/env', envId).findEnd(), (e: unknown) => e instanceof CorruptionError && e.file.endsWith(logFileName(2)) && e.offset === 0);
  // And starting in that file itself it is damage: there is nothing before it to end at.
  assert.throws(() => new LogReader(vfs, '/env', envId).findEnd(makeLsn(2, LOG_HEADER_SIZE)), /log file header is damaged/);
});

test('a checksummed record of an unknown type, or one that does not decode, ends the records; decode reports its file and offset', async () => {
  const vfs = setup();
  const end = await oneCommitLog(vfs);
  // A record type this version does not know ends the records (it cannot be trusted as ours).
  plantRecord(vfs, 1, lsnOffset(end), Buffer.from([99, 1, 2, 3]));
  assert.equal(new LogReader(vfs, '/env', envId).findEnd(), end);
  // A known type with a malformed body: iterated (it checksums), refused when decoded.
  const bad = Buffer.from([6, 1, 2, 3]); // a commit three bytes long
  plantRecord(vfs, 1, lsnOffset(end), bad);
  const r = new LogReader(vfs, '/env', envId);
  const raws = [...r.records()];
  assert.equal(raws.length, 2);
  assert.throws(() => r.decode(raws[1]!), (e: unknown) => e instanceof CorruptionError && e.offset === lsnOffset(end) && e.file.endsWith(logFileName(1)) && /commit is truncated/.test(e.message));
});

test('after a bad record, later records that do not decode or run past the file prove nothing: a torn tail', async () => {
  const vfs = setup();
  const end = await oneCommitLog(vfs);
  const at = lsnOffset(end);
  // Garbage where the next record would be (a torn write) ...
  patch(vfs, 1, at, Buffer.from([5, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9]));
  // ... a checksummed commit-coded record whose body does not decode further on ...
  plantRecord(vfs, 1, at + 600, Buffer.from([6, 0xff, 0xff]));
  // ... and a length field running past the end of the file near its end.
  const len = Buffer.alloc(4);
  len.writeUInt32LE(0x7fff_0000, 0);
  patch(vfs, 1, opts.fileSize - 20, len);
  assert.equal(new LogReader(vfs, '/env', envId).findEnd(), end);
  // A decodable commit claiming durability past the bad record turns the same bytes into corruption (I6).
  plantRecord(vfs, 1, at + 1200, encodeRecord(commit(2, makeLsn(1, at + 1200))));
  assert.throws(() => new LogReader(vfs, '/env', envId).findEnd(), (e: unknown) => e instanceof CorruptionError && e.offset === at);
});

test('a log file that shrinks while it is read is read as far as it goes', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  for (let i = 1; i <= 3; i++) w.append(commit(i));
  await w.flush();
  const end = w.end;
  w.close();
  // fstat says the preallocated size, but the reads stop early (truncated meanwhile by another process).
  const shrinking: Vfs = {
    stat: (p) => vfs.stat(p),
    readdir: (d) => vfs.readdir(d),
    mkdir: (d, o) => vfs.mkdir(d, o),
    rename: (a, b) => vfs.rename(a, b),
    unlink: (p) => vfs.unlink(p),
    rmdir: (d) => vfs.rmdir(d),
    syncDir: (d) => vfs.syncDir(d),
    readFile: (p) => vfs.readFile(p),
    writeFile: (p, d) => vfs.writeFile(p, d),
    open: (p, o) => {
    const h = vfs.open(p, o);
    const cut = lsnOffset(end) + 16;
    const wrapped: FileHandle = Object.create(h) as FileHandle;
    wrapped.read = (buf, pos) => (pos >= cut ? 0 : h.read(buf.subarray(0, Math.min(buf.length, cut - pos)), pos));
    wrapped.size = () => h.size();
    wrapped.close = () => h.close();
    return wrapped;
    },
  };
  const r = new LogReader(shrinking, '/env', envId);
  assert.equal([...r.records()].length, 3);
  assert.equal(r.end, end);
});

test('the writer: a record larger than its buffer, a synchronous flush, a second close', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', { envId, fileSize: 1024 * 1024, bufferSize: 4096 });
  w.append(commit(1));
  const big = Buffer.alloc(200 * 1024, 0x5a);
  const lsn = w.append({ type: 'page_image', txn: 2, file: 1, pgno: 9, image: big });
  const waiting = w.flush(w.end);
  w.flushSync();
  await waiting; // resolved by the synchronous flush
  assert.equal(w.durableLsn, w.end);
  const syncs = w.stats.syncs;
  w.flushSync(); // nothing new: no fsync
  assert.equal(w.stats.syncs, syncs);
  w.close();
  w.close(); // closing twice is harmless
  const r = new LogReader(vfs, '/env', envId);
  const recs = [...r.records()].map((x) => ({ lsn: x.lsn, rec: r.decode(x) }));
  assert.equal(recs.length, 2);
  assert.equal(recs[1]!.lsn, lsn);
  assert.ok((recs[1]!.rec as { image: Buffer }).image.equals(big));
  // A record that cannot fit in any log file is a caller's bug: an assertion, nothing appended.
  const w2 = LogWriter.resume(vfs, '/env', { envId, fileSize: 1024 * 1024, bufferSize: 4096 }, r.end!);
  const before = w2.end;
  assert.throws(() => w2.append({ type: 'page_image', txn: 3, file: 1, pgno: 1, image: Buffer.alloc(1024 * 1024) }), AssertionError);
  assert.equal(w2.end, before);
  w2.close();
});

test('a failed log write panics the writer: the caller and every waiter get RunRecoveryError (I8)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  const panics: Error[] = [];
  w.onPanic = (e) => panics.push(e);
  w.append(commit(1));
  const waiter = w.flush(); // written at once; its fsync is in flight
  w.append(commit(2));
  vfs.inject({ op: 'write', errno: 'ENOSPC' });
  assert.throws(() => w.write(), (e: unknown) => e instanceof RunRecoveryError && /ENOSPC/.test(e.message));
  await assert.rejects(waiter, RunRecoveryError, 'a waiter is failed, not acknowledged, once the log failed');
  await assert.rejects(w.flush(), RunRecoveryError);
  assert.equal(panics.length, 1);
  assert.throws(() => w.write(), RunRecoveryError, 'and every later call');
  w.close();
});

test('a failed log file switch panics the writer; the records before it stay readable', async () => {
  for (const fault of [{ op: 'sync' as const }, { op: 'syncDir' as const }, { op: 'write' as const, pathIncludes: logFileName(2) }]) {
    const vfs = setup();
    const w = LogWriter.create(vfs, '/env', opts);
    const panics: Error[] = [];
    w.onPanic = (e) => panics.push(e);
    let n = 0;
    w.append(commit(++n));
    await w.flush();
    const durable = w.durableLsn;
    vfs.inject({ ...fault, errno: 'EIO' });
    assert.throws(
      () => {
        for (;;) w.append({ type: 'page_image', txn: ++n, file: 1, pgno: n, image: Buffer.alloc(1000) });
      },
      (e: unknown) => e instanceof RunRecoveryError && /EIO/.test(e.message),
      JSON.stringify(fault),
    );
    assert.equal(panics.length, 1, JSON.stringify(fault));
    await assert.rejects(w.flush(), RunRecoveryError);
    w.close();
    vfs.clearFaults();
    assert.ok(new LogReader(vfs, '/env', envId).findEnd() >= durable, JSON.stringify(fault));
  }
});

test('the flusher fsyncs in the thread pool even for one waiter (the short path is flushNow); a write failing meanwhile wins over the sync', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  w.mayBlock = () => true;
  w.append(commit(1));
  const syncs = w.stats.syncs;
  let done = false;
  const first = w.flush().then(() => {
    done = true;
  });
  await Promise.resolve();
  assert.equal(done, false, 'flush() does not block: its fdatasync runs on a later tick');
  await first;
  assert.equal(w.stats.syncs, syncs + 1);
  assert.equal(new LogReader(vfs.crash({ seed: 1, mode: 'drop' }), '/env', envId).findEnd(), w.end, 'durable after the flush');
  // A write failing while the fdatasync is in flight: every waiter is failed, not acknowledged.
  w.append(commit(2));
  const waiter = w.flush();
  w.append(commit(3));
  vfs.inject({ op: 'write', errno: 'EIO' });
  assert.throws(() => w.write(), RunRecoveryError);
  await assert.rejects(waiter, RunRecoveryError);
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r)); // the fdatasync in flight completes
  assert.equal(w.stats.syncs, syncs + 1, 'the sync in flight acknowledges nothing once the writer failed');
  assert.ok(w.durableLsn < w.end);
  w.close();
});
