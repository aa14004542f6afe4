import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { commit, envId, opts, setup } from '../testing/logkit.js';
import { LogWriter } from './writer.js';
import { LogReader } from './reader.js';
import { LOG_HEADER_SIZE, logFileName } from './file.js';
import { decodeRecord, encodeRecord, formatRecord, RECORD_TABLE, type LogRecord } from './records.js';
import { CorruptionError, RunRecoveryError } from '../util/errors.js';
import { lsnFile, lsnOffset, makeLsn } from '../util/lsn.js';


function readAll(vfs: SimVfs): { recs: LogRecord[]; end: number } {
  const r = new LogReader(vfs, '/env', envId);
  const recs = [...r.records()].map((raw) => r.decode(raw));
  return { recs, end: r.end! };
}

test('every record type encodes and decodes to itself, and prints one line', () => {
  const samples: LogRecord[] = [
    { type: 'page_image', txn: 1, file: 2, pgno: 3, image: Buffer.from('abc') },
    { type: 'page_delta', txn: 1, file: 2, pgno: 3, prev: makeLsn(1, 64), ranges: Buffer.from('xyz') },
    { type: 'file_create', txn: 1, file: 2, name: 'a.db', pageSize: 4096 },
    { type: 'file_remove', txn: 1, file: 2, name: 'a.db' },
    { type: 'file_rename', txn: 1, file: 2, name: 'a.db', newName: 'b.db' },
    commit(9, makeLsn(2, 100)),
    { type: 'checkpoint', redo: makeLsn(1, 64), prev: 0, time: 5, durable: makeLsn(1, 64), files: '2 a.db' },
  ];
  assert.deepEqual(new Set(samples.map((s) => s.type)), new Set(Object.keys(RECORD_TABLE)), 'a record type has no sample here');
  for (const s of samples) {
    assert.deepEqual(decodeRecord(encodeRecord(s)), s);
    assert.match(formatRecord(makeLsn(1, 64), s), new RegExp(`^\\[1\\]\\[64\\] ${s.type}:`));
  }
});

test('appended records read back in order across log file switches', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  const lsns: number[] = [];
  for (let i = 1; i <= 400; i++) {
    lsns.push(w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(200, i & 0xff) }));
    lsns.push(w.append(commit(i, w.durableLsn)));
    if (i % 50 === 0) await w.flush();
  }
  await w.flush();
  w.close();
  const r = new LogReader(vfs, '/env', envId);
  assert.ok(r.files.length > 2, `expected several files, got ${r.files.length}`);
  const got = [...r.records()];
  assert.deepEqual(got.map((g) => g.lsn), lsns);
  assert.equal(r.end, got[got.length - 1]!.next);
});

test('group commit: concurrent flushes share fsyncs', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  const before = w.stats.syncs;
  const waits: Promise<void>[] = [];
  for (let i = 1; i <= 64; i++) {
    w.append(commit(i));
    waits.push(w.flush());
  }
  await Promise.all(waits);
  const syncs = w.stats.syncs - before;
  assert.ok(syncs <= 2, `64 concurrent commits took ${syncs} fsyncs`);
  assert.equal(readAll(vfs).recs.length, 64);
  w.close();
});

test('a torn tail ends the log; resume zeroes it and appends after the last valid record', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  for (let i = 1; i <= 5; i++) w.append(commit(i));
  await w.flush();
  const tornAt = w.end;
  w.append({ type: 'page_image', txn: 6, file: 1, pgno: 1, image: Buffer.alloc(3000, 1) });
  w.write();
  w.close();
  // Damage the unsynced record's middle: as a torn sector would.
  const h = vfs.open(`/env/${logFileName(1)}`);
  h.write(Buffer.alloc(512, 0xee), lsnOffset(tornAt) + 1024);
  h.close();
  const { recs, end } = readAll(vfs);
  assert.equal(recs.length, 5);
  assert.equal(end, tornAt);
  const w2 = LogWriter.resume(vfs, '/env', opts, end);
  w2.append(commit(7));
  await w2.flush();
  w2.close();
  assert.deepEqual(readAll(vfs).recs.map((r) => (r as { txn: number }).txn), [1, 2, 3, 4, 5, 7]);
});

test('a bad record followed by a record claiming it durable is corruption, with file and offset (I6)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  const victim = w.append(commit(1));
  await w.flush();
  w.append(commit(2, w.durableLsn));
  await w.flush();
  w.close();
  const h = vfs.open(`/env/${logFileName(1)}`);
  const b = Buffer.alloc(1);
  h.read(b, lsnOffset(victim) + 12);
  b[0]! ^= 0x40;
  h.write(b, lsnOffset(victim) + 12);
  h.close();
  assert.throws(
    () => readAll(vfs),
    (e: unknown) => e instanceof CorruptionError && e.offset === lsnOffset(victim) && e.file.endsWith(logFileName(1)),
  );
});

test('a bad record in an earlier file is corruption: the next file says it was durable (I6)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  const first = w.append(commit(1));
  for (let i = 2; i < 300; i++) w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(300) });
  await w.flush();
  w.close();
  assert.ok(new LogReader(vfs, '/env', envId).files.length >= 2);
  const h = vfs.open(`/env/${logFileName(lsnFile(first))}`);
  h.write(Buffer.alloc(4, 0xff), lsnOffset(first) + 8);
  h.close();
  assert.throws(() => readAll(vfs), CorruptionError);
});

test('a damaged header of the last log file is corruption once records follow it; a torn creation is the end (I6)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  for (let i = 1; i < 200; i++) w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(300) });
  await w.flush();
  w.close();
  const last = new LogReader(vfs, '/env', envId).files.length;
  assert.ok(last >= 2);
  const path = `/env/${logFileName(last)}`;
  const h = vfs.open(path);
  h.write(Buffer.alloc(1, 0xff), 30); // inside the environment id: the header checksum fails
  // Records follow the header: they were written after it was durable, so this is corruption
  // (it was taken as the end of the log, silently dropping every record of the file).
  assert.throws(
    () => readAll(vfs),
    (e: unknown) => e instanceof CorruptionError && e.offset === 0 && e.file === path,
  );
  // Nothing after the header (a crash while the file was being made): the end of the log.
  h.write(Buffer.alloc(h.size() - LOG_HEADER_SIZE), LOG_HEADER_SIZE);
  h.close();
  const { end } = readAll(vfs);
  assert.equal(lsnFile(end), last - 1);
});

test('a missing middle log file is refused by name (I7)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  for (let i = 1; i < 400; i++) w.append({ type: 'page_image', txn: i, file: 1, pgno: i, image: Buffer.alloc(300) });
  await w.flush();
  w.close();
  vfs.unlink(`/env/${logFileName(2)}`);
  assert.throws(() => readAll(vfs), /log\.0000000002 is missing/);
});

test('a log file of another environment is refused (I7)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', { ...opts, envId: Buffer.alloc(16, 9) });
  w.append(commit(1));
  await w.flush();
  w.close();
  assert.throws(() => readAll(vfs), /another environment/);
});

test('a failed fsync panics the writer: waiters and later calls get RunRecoveryError, no retry (I8)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  let panicked: Error | undefined;
  w.onPanic = (e) => {
    panicked = e;
  };
  vfs.inject({ op: 'sync', errno: 'EIO' });
  w.append(commit(1));
  await assert.rejects(w.flush(), RunRecoveryError);
  assert.ok(panicked, 'onPanic was not called');
  assert.throws(() => w.append(commit(2)), RunRecoveryError);
  await assert.rejects(w.flush(), RunRecoveryError);
  vfs.clearFaults();
  assert.throws(() => w.flushSync(), RunRecoveryError);
  w.close();
});

const turn = () => new Promise<void>((r) => setImmediate(r));

test('flushNow: a lone committer is durable on return, with one write and one fdatasync (I2)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  w.mayBlock = () => true;
  w.append(commit(1));
  assert.equal(w.flushNow(w.end), false, 'not before the event loop ran a turn since the writer was made');
  await turn();
  const syncs = vfs.syncCount;
  const writes = vfs.opCount('write');
  assert.equal(w.flushNow(w.end), true);
  assert.equal(vfs.opCount('write') - writes, 1, 'one write');
  assert.equal(vfs.syncCount - syncs, 1, 'one sync');
  assert.deepEqual(vfs.pendingOps(), [], 'nothing volatile left');
  assert.equal(new LogReader(vfs.crash({ seed: 1, mode: 'drop' }), '/env', envId).findEnd(), w.end);
  assert.equal(w.flushNow(w.end), true, 'already durable');
  assert.equal(vfs.syncCount - syncs, 1, 'no second sync');
  w.close();
});

test('flushNow after relaxed writes (write-nosync, a full buffer) fdatasyncs them too: every crash keeps them (I2)', async () => {
  for (const relaxed of ['write', 'overflow'] as const) {
    const vfs = setup();
    const w = LogWriter.create(vfs, '/env', opts);
    await turn();
    w.mayBlock = () => true;
    w.append(commit(1));
    if (relaxed === 'write') w.write(); // a write-nosync commit: handed to the OS through the plain handle
    else w.append({ type: 'page_image', txn: 2, file: 1, pgno: 1, image: Buffer.alloc(opts.bufferSize + 100, 3) }); // the buffer overflows
    w.append(commit(3));
    assert.equal(w.flushNow(w.end), true);
    assert.deepEqual(vfs.pendingOps(), [], `${relaxed}: nothing volatile left`);
    for (const mode of ['drop', 'torn', 'random', 'prefix'] as const) {
      assert.equal(new LogReader(vfs.crash({ seed: 7, mode }), '/env', envId).findEnd(), w.end, `${relaxed}, crash ${mode}: the relaxed records before the sync commit survive`);
    }
    w.close();
  }
});

test('flushNow declines when others may join or a flush is queued, and after a run of flushes without an event-loop turn', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  let block = false;
  w.mayBlock = () => block;
  w.append(commit(1));
  assert.equal(w.flushNow(w.end), false, 'mayBlock says no');
  const queued = w.flush();
  block = true;
  w.append(commit(2));
  assert.equal(w.flushNow(w.end), false, 'a flush is queued');
  await queued;
  await w.flush();
  let n = 2;
  let inARow = 0;
  for (; inARow < 1000; inARow++) {
    w.append(commit(++n));
    if (!w.flushNow(w.end)) break;
  }
  assert.ok(inARow > 1 && inARow < 1000, `flushNow stopped after ${inARow} in a row without a turn`);
  await w.flush(); // the flusher lets the event loop run a turn
  await turn();
  w.append(commit(++n));
  assert.equal(w.flushNow(w.end), true, 'allowed again after a turn');
  w.close();
});

test('flushNow: a failed fdatasync panics the writer, is not retried, and is not acknowledged (I8)', async () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  await turn();
  w.mayBlock = () => true;
  const panics: Error[] = [];
  w.onPanic = (e) => panics.push(e);
  w.append(commit(1));
  const before = w.durableLsn;
  vfs.inject({ op: 'sync', errno: 'EIO' });
  const syncs = vfs.syncCount;
  assert.throws(() => w.flushNow(w.end), RunRecoveryError);
  assert.equal(vfs.syncCount - syncs, 1, 'no retry');
  assert.equal(panics.length, 1);
  assert.equal(w.durableLsn, before);
  assert.throws(() => w.flushNow(w.end), RunRecoveryError);
  assert.equal(new LogReader(vfs.crash({ seed: 1, mode: 'drop' }), '/env', envId).findEnd(), before, 'the failed write is not durable');
  w.close();
});

test('records start after the header', () => {
  const vfs = setup();
  const w = LogWriter.create(vfs, '/env', opts);
  assert.equal(w.append(commit(1)), makeLsn(1, LOG_HEADER_SIZE));
  w.close();
});
