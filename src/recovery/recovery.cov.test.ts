// Recovery's and the checkpoint's rarely taken paths (issue 4 item 9), on the simulated file
// system: stopping at a time or an LSN inside a transaction, a data file the checkpoint listed
// gone, a torn page with no full image in the log, a page whose LSN is not the one a change
// follows, a malformed page delta with a valid checksum, a removed file's name reused, damage
// that catastrophic recovery cannot rebuild; and checkpoints that are read-only, concurrent,
// automatic-removal ones, on removed files, or asked for after close. Each asserts the typed
// error (file and offset where the error has them) or the recovered contents. Deterministic;
// ~2 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { SimVfs } from '../io/sim.js';
import { Environment } from '../env/environment.js';
import '../backup/register.js'; // env.hotBackup(), env.archive()
import { readControl } from '../env/control.js';
import { recover, type RecoveryContext } from './redo.js';
import { flatContext } from '../testing/recoverykit.js';
import { Pager } from '../page/pager.js';
import { INTERNAL_TXN } from '../txn/txn.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { encodeRecord, type LogRecord } from '../log/records.js';
import { logFileName, recordChecksum } from '../log/file.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, lsnOffset } from '../util/lsn.js';

const HOME = '/env';
const PAGE = 1024;

function fresh(): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  return vfs;
}

function open(vfs: SimVfs, extra: Partial<Parameters<typeof Environment.open>[1]> = {}): Promise<Environment> {
  return Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize: 32 * 1024, checkpoint: false, pageSize: PAGE, ...extra });
}

const key = (i: number) => `k${String(i).padStart(5, '0')}`;

/** One transaction putting keys [from, from + n) with values tagged `tag`. */
async function put(env: Environment, file: string, from: number, n: number, tag: string): Promise<void> {
  const db = await env.openDatabase(file, { create: true });
  await env.transaction((t) => {
    for (let i = from; i < from + n; i++) db.put(key(i), `${tag}:${i}`.padEnd(80, '.'), t);
  });
}

async function contents(vfs: SimVfs, file: string): Promise<Map<string, string>> {
  const env = await Environment.open(HOME, { autoRemoveLogs: false, vfs, checkpoint: false });
  try {
    const db = await env.openDatabase(file);
    return new Map([...db.range()].map(([k, v]) => [k.toString(), v.toString().replace(/\.+$/, '')]));
  } finally {
    await env.close();
  }
}

interface Rec {
  lsn: Lsn;
  next: Lsn;
  rec: LogRecord;
}

function logOf(vfs: SimVfs): Rec[] {
  const r = new LogReader(vfs, HOME);
  return [...r.records()].map((raw) => ({ lsn: raw.lsn, next: raw.next, rec: r.decode(raw) }));
}

function ctxFor(vfs: SimVfs): RecoveryContext {
  return flatContext(vfs, HOME);
}

function closeFiles(ctx: RecoveryContext): void {
  for (const f of ctx.pager.files.values()) f.handle?.close();
}

/** Overwrites bytes of a file in place. */
function scribble(vfs: SimVfs, p: string, at: number, bytes: Buffer): void {
  const h = vfs.open(p);
  h.write(bytes, at);
  h.sync();
  h.close();
}

/** Replaces a record's body in place (same length), with a valid checksum. */
function rewriteRecord(vfs: SimVfs, r: Rec, body: Buffer): void {
  const file = path.join(HOME, logFileName(lsnFile(r.lsn)));
  const head = Buffer.alloc(8);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(recordChecksum(lsnFile(r.lsn), lsnOffset(r.lsn), body), 4);
  scribble(vfs, file, lsnOffset(r.lsn), Buffer.concat([head, body]));
}

/** A workload after a checkpoint, left as a kill -9 leaves it (no closing checkpoint). */
async function crashedAfter(work: (env: Environment, vfs: SimVfs) => Promise<void>, before?: (env: Environment) => Promise<void>): Promise<SimVfs> {
  const vfs = fresh();
  const env = await open(vfs);
  if (before) await before(env);
  await env.checkpoint();
  await work(env, vfs);
  await env.flushLog();
  const image = vfs.crash({ seed: 1, mode: 'keep' });
  await env.close();
  return image;
}

test('recover() with no log files at all is NOT_FOUND', () => {
  const vfs = fresh();
  const ctx: RecoveryContext = { vfs, pager: new Pager(vfs, { cacheSize: 1 << 20 }), logDir: HOME, envId: Buffer.alloc(16), resolve: (n) => path.join(HOME, n), listDataFiles: () => new Map() };
  assert.throws(() => recover(ctx, {}), (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND' && /no log files in \/env/.test(e.message));
});

test('recovery stops before the first commit later than a time, and at an LSN inside a transaction, cutting at its first record', async () => {
  const vfs = await crashedAfter(async (env) => {
    await put(env, 'a.db', 0, 30, 'one');
    await new Promise((r) => setTimeout(r, 5)); // a later commit time on the clock, not a race
    await put(env, 'a.db', 0, 30, 'two');
    await put(env, 'a.db', 30, 30, 'three');
  }, (env) => put(env, 'a.db', 0, 1, 'zero'));
  const redo = readControl(vfs, HOME)!.redo;
  const log = logOf(vfs).filter((r) => r.lsn >= redo);
  const commits = log.filter((r) => r.rec.type === 'commit' && r.rec.txn !== INTERNAL_TXN); // not the checkpoint's own
  const times = commits.map((c) => (c.rec as { time: number }).time);
  assert.equal(commits.length, 3);
  assert.ok(times[1]! > times[0]!, `commit times ${times.join(', ')}`);

  // By time (recover() takes the time itself): only 'one' commits; the cut is at 'two''s first record.
  let ctx = ctxFor(vfs);
  let res = recover(ctx, { from: redo, untilTime: times[0]! });
  closeFiles(ctx);
  assert.equal(res.stoppedAt, commits[0]!.next, "cut at the later transaction's first record");
  assert.equal(res.end, commits[0]!.next);
  assert.equal(res.committed, 1);

  // By LSN, in the middle of the last transaction: the whole transaction goes.
  const last = commits.at(-1)!;
  const lastStart = log.filter((r) => r.lsn < last.lsn && r.rec.type === 'commit').at(-1)!.next;
  const mid = log.find((r) => r.lsn > lastStart && r.lsn < last.lsn)!;
  assert.ok(mid !== undefined, 'the last transaction has several records');
  ctx = ctxFor(vfs);
  res = recover(ctx, { from: redo, untilLsn: mid.lsn });
  closeFiles(ctx);
  assert.equal(res.stoppedAt, lastStart);
  assert.equal(res.end, lastStart);
  assert.equal(res.committed, 2, "'one' and 'two'; 'three' is cut");
});

test('a data file the last checkpoint listed, changed in the log, missing: NOT_FOUND naming it', async () => {
  const vfs = await crashedAfter((env) => put(env, 'a.db', 0, 20, 'after'), (env) => put(env, 'a.db', 0, 20, 'before'));
  // The replayed log holds the checkpoint record (listing a.db) and then changes to a.db.
  vfs.unlink(path.join(HOME, 'a.db'));
  const ctx = ctxFor(vfs);
  const log = logOf(vfs);
  const ckpt = log.filter((r) => r.rec.type === 'checkpoint').at(-1)!;
  assert.throws(
    () => recover(ctx, { from: (ckpt.rec as { redo: Lsn }).redo }),
    (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND' && e.message.startsWith(`data file a.db (listed by the checkpoint at ${formatLsn(ckpt.lsn)}, changed at `) && /is missing; copy it into the environment/.test(e.message),
  );
  closeFiles(ctx);
});

test('a torn page whose log holds only deltas is reported with file and offset; if its file is removed later, nothing is lost', async () => {
  for (const removeLater of [false, true]) {
    let copy: Buffer | undefined;
    const vfs = await crashedAfter(async (env, live) => {
      await put(env, 'a.db', 0, 5, 'x');
      await put(env, 'a.db', 0, 5, 'y');
      copy = live.snapshotFiles().get(path.join(HOME, 'a.db'));
      if (removeLater) await env.removeDatabase('a.db');
    }, (env) => put(env, 'a.db', 0, 5, 'w'));
    if (removeLater) vfs.writeFile(path.join(HOME, 'a.db'), copy!); // the data file as it was before the remove
    const redo = readControl(vfs, HOME)!.redo;
    const delta = logOf(vfs).find((r) => r.lsn > redo && r.rec.type === 'page_delta')!;
    assert.ok(delta, 'the second update is logged as a delta');
    const { pgno } = delta.rec as { pgno: number };
    const file = path.join(HOME, 'a.db');
    scribble(vfs, file, pgno * PAGE + 100, Buffer.alloc(64, 0xa5)); // torn: the checksum fails
    // Start at the delta: the full image that would rebuild the page is before it.
    const ctx = ctxFor(vfs);
    if (!removeLater) {
      assert.throws(() => recover(ctx, { from: delta.lsn }), (e: unknown) => e instanceof CorruptionError && e.file === file && e.offset === pgno * PAGE && /no full image/.test(e.message));
    } else {
      const res = recover(ctx, { from: delta.lsn });
      assert.equal(vfs.stat(file), undefined, 'the file is removed by the replayed remove');
      assert.ok(res.committed >= 1);
    }
    closeFiles(ctx);
  }
});

test('a change that follows another LSN than the page has is a log sequence error; a malformed delta is corruption at its record', async () => {
  const vfs = await crashedAfter(async (env) => {
    await put(env, 'a.db', 0, 5, 'x');
    await put(env, 'a.db', 0, 5, 'y');
    await put(env, 'a.db', 0, 5, 'z');
  }, (env) => put(env, 'a.db', 0, 5, 'w'));
  const redo = readControl(vfs, HOME)!.redo;
  const deltas = logOf(vfs).filter((r) => r.lsn > redo && r.rec.type === 'page_delta');
  assert.ok(deltas.length >= 2);
  // Data file from before the image (the checkpoint's), log from the second delta: a change is missing between.
  let ctx = ctxFor(vfs);
  assert.throws(
    () => recover(ctx, { from: deltas[1]!.lsn }),
    (e: unknown) => e instanceof CorruptionError && e.file === path.join(HOME, logFileName(lsnFile(deltas[1]!.lsn))) && e.offset === lsnOffset(deltas[1]!.lsn) && /log sequence error: page \d+ of \/env\/a\.db has LSN .* log records between them are missing/.test(e.message),
  );
  closeFiles(ctx);
  // A delta whose ranges point outside the page, checksummed as valid: corruption naming the log record.
  const d = deltas[0]!;
  const rec = d.rec as Extract<LogRecord, { type: 'page_delta' }>;
  const ranges = Buffer.from(rec.ranges);
  ranges.writeUInt32LE(PAGE * 4, 0);
  rewriteRecord(vfs, d, encodeRecord({ ...rec, ranges }));
  ctx = ctxFor(vfs);
  assert.throws(
    () => recover(ctx, { from: redo }),
    (e: unknown) => e instanceof CorruptionError && e.file === path.join(HOME, logFileName(lsnFile(d.lsn))) && e.offset === lsnOffset(d.lsn) && /out of bounds/.test(e.message),
  );
  closeFiles(ctx);
});

test('catastrophic recovery: a removed file\'s name reused by a new file, and a file removed while recovery had it open', async () => {
  const vfs = fresh();
  const env = await open(vfs);
  await put(env, 'a.db', 0, 10, 'old');
  await env.removeDatabase('a.db');
  await put(env, 'a.db', 0, 10, 'new');
  await put(env, 'b.db', 0, 10, 'b');
  await env.checkpoint();
  await put(env, 'b.db', 0, 10, 'b2'); // read from disk by recovery, then removed
  await env.removeDatabase('b.db');
  await env.flushLog();
  const image = vfs.crash({ seed: 2, mode: 'keep' });
  await env.close();
  const report = await Environment.recover(HOME, { vfs: image, catastrophic: true });
  assert.ok(report.transactions >= 6);
  const got = await contents(image, 'a.db');
  assert.equal(got.size, 10);
  assert.equal(got.get(key(3)), 'new:3', 'the old incarnation\'s records do not touch the new file');
  assert.equal(image.stat(path.join(HOME, 'b.db')), undefined);
  // Normal recovery too (from the checkpoint: b.db is on disk and read before its removal).
  const image2 = vfs.crash({ seed: 3, mode: 'keep' });
  await Environment.recover(HOME, { vfs: image2 });
  assert.equal(image2.stat(path.join(HOME, 'b.db')), undefined);
});

test('catastrophic recovery refuses a damaged page the remaining log does not rebuild, with file and offset', async () => {
  const vfs = fresh();
  const env = await open(vfs);
  await put(env, 'a.db', 0, 40, 'a');
  await env.checkpoint();
  for (let i = 0; i < 30; i++) await put(env, 'b.db', i * 10, 10, 'b');
  await env.checkpoint();
  const removed = await env.archive({ remove: true });
  assert.ok(removed.length >= 1, 'logs holding a.db\'s images are gone');
  await env.close();
  const aUid = logOf(vfs).find((r) => r.rec.type === 'file_create' && (r.rec as { name: string }).name === 'a.db');
  assert.equal(aUid, undefined, "the log left holds nothing of a.db");
  const file = path.join(HOME, 'a.db');
  scribble(vfs, file, 1 * PAGE + 200, Buffer.alloc(16, 0x3c));
  await assert.rejects(
    Environment.recover(HOME, { vfs, catastrophic: true }),
    (e: unknown) => e instanceof CorruptionError && e.file === file && e.offset === PAGE && /the log does not rebuild this page/.test(e.message),
  );
});

test('checkpoints: read-only is a no-op, concurrent ones queue, automatic log removal, a removed file not written back, two pins on one file, after close refused', async () => {
  const vfs = fresh();
  let env = await open(vfs);
  await put(env, 'a.db', 0, 50, 'a');
  await env.close();

  const ro = await Environment.open(HOME, { autoRemoveLogs: false, vfs, readOnly: true });
  const before = readControl(vfs, HOME);
  await ro.checkpoint();
  assert.deepEqual(readControl(vfs, HOME), before, 'a read-only checkpoint writes nothing');
  await ro.close();

  env = await open(vfs, { autoRemoveLogs: true });
  await put(env, 'c.db', 0, 20, 'c');
  // A file removed with dirty pages: the checkpoints after it never write it back.
  await env.removeDatabase('c.db');
  for (let i = 0; i < 30; i++) await put(env, 'b.db', i * 10, 10, 'b');
  const one = env.checkpoint();
  const two = env.checkpoint(); // queued behind the first
  await Promise.all([one, two]);
  assert.equal(env.stat().checkpoint.count, 2);
  assert.equal(vfs.stat(path.join(HOME, 'c.db')), undefined);
  const redoFile = lsnFile(readControl(vfs, HOME)!.redo);
  assert.deepEqual(listLogFiles(vfs, HOME).filter((n) => n < redoFile), [], 'automatic removal took the inactive logs');
  // Two pins on one file: releasing one keeps the other; releasing twice is harmless.
  const first = listLogFiles(vfs, HOME)[0]!;
  const p1 = env.pinLogs(first);
  const p2 = env.pinLogs(first);
  p1();
  p1();
  for (let i = 0; i < 30; i++) await put(env, 'b.db', i * 10, 10, 'b2');
  await env.checkpoint();
  assert.ok(listLogFiles(vfs, HOME).includes(first), 'still pinned by the second pin');
  p2();
  assert.ok(env.removableLogs().includes(first), 'removable once every pin is released');
  await env.close();
  assert.throws(() => env.checkpoint(), (e: unknown) => e instanceof CairnError && e.code === 'CLOSED');
});

test("a panicked environment's checkpoint timer starts no checkpoint (and throws nothing out of the timer)", async () => {
  const vfs = fresh();
  const env = await open(vfs, { checkpoint: { minutes: 0.001, kbytes: 0 } }); // a 60 ms timer
  await put(env, 'a.db', 0, 5, 'a');
  vfs.inject({ op: 'sync', errno: 'EIO', persistent: true });
  await assert.rejects(put(env, 'a.db', 0, 5, 'b'), (e: unknown) => e instanceof CairnError && e.code === 'RUN_RECOVERY');
  // Spy on the timer's callback and on checkpoint(): the timer must fire and start nothing.
  const spied = (env as unknown as { checkpointer: { timedCheckpoint: () => void; checkpoint: () => Promise<void> } }).checkpointer; // env/checkpointer.ts
  let checkpoints = 0;
  spied.checkpoint = () => {
    checkpoints++;
    return Promise.resolve();
  };
  const fired = new Promise<void>((resolve) => {
    const original = spied.timedCheckpoint.bind(spied);
    spied.timedCheckpoint = () => {
      original();
      resolve();
    };
  });
  const keepAlive = setInterval(() => {}, 1000); // the environment's timer is unref'd
  await fired;
  clearInterval(keepAlive);
  assert.equal(checkpoints, 0, 'no checkpoint on a panicked environment');
  vfs.clearFaults();
  await env.close().catch(() => {});
});

test('recovery without a control file refuses a first log file whose header is damaged: corruption at offset 0 of that file', async () => {
  const vfs = fresh();
  vfs.writeFile(path.join(HOME, logFileName(1)), Buffer.alloc(64));
  await assert.rejects(
    Environment.recover(HOME, { vfs, catastrophic: true }),
    (e: unknown) => e instanceof CorruptionError && e.file === path.join(HOME, logFileName(1)) && e.offset === 0 && /log file header is damaged/.test(e.message),
  );
});
