// Shared parts of the damage tests (env/bitflip.test.ts, env/corruption.test.ts; issue 4 item 6): a
// standard history of one environment on the simulated file system, the reader that opens a
// (damaged) image and reads every database, and the oracle that judges what came back.
//
// The history: phase 1 (two data files, overflow values, deletes that leave free pages, a
// checkpoint) closed cleanly = `closed1`; phase 2 (updates, new overflow chains, more deletes)
// closed cleanly = `closed2`; phase 3 (a checkpoint, commits over several log files, a last
// large transaction) left open after its last acknowledged commit = `crashed` (a power loss
// with everything acknowledged durable; normal recovery starts at the phase-3 checkpoint).

import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from '../env/environment.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { LogReader } from '../log/reader.js';
import { lsnFile, lsnOffset } from '../util/lsn.js';

export const HOME = '/env';
export const PAGE_SIZE = 1024;
export const FILES = ['a.db', 'b.db'] as const;

export type Files = Map<string, Buffer>;
/** "file/database" → key → value. */
export type Contents = Map<string, Map<string, string>>;

export interface History {
  closed1: Files;
  closed2: Files;
  model2: Contents;
  crashed: Files;
  /** The model after every commit of phase 3 (`crashedModels[last]`: everything). */
  crashedModels: Contents[];
  /** Where normal recovery of `crashed` starts (file, offset). */
  crashedRedo: { file: number; offset: number };
}

const key = (i: number) => `key${String(i * 7).padStart(5, '0')}`;

function copyContents(c: Contents): Contents {
  return new Map([...c].map(([n, m]) => [n, new Map(m)]));
}

/**
 * Builds the standard history (about 1 s). Data file ids are random, and checkpoint records
 * list them in decimal: the history is built again until both ids have 10 digits, so that every
 * build has its log records at the same offsets and a seed replays the same damage.
 */
export async function buildHistory(): Promise<History> {
  for (;;) {
    const h = await buildOnce();
    if (FILES.every((f) => h.closed1.get(`${HOME}/${f}`)!.readUInt32LE(16) >= 1e9)) return h;
  }
}

async function buildOnce(): Promise<History> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  const opts = { vfs, logFileSize: 48 * 1024, pageSize: PAGE_SIZE, checkpoint: false as const };
  const model: Contents = new Map([
    ['a.db/', new Map()],
    ['b.db/', new Map()],
  ]);
  const a = model.get('a.db/')!;
  const b = model.get('b.db/')!;

  // Phase 1: the first clean close.
  let env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, ...opts });
  let da = await env.openDatabase('a.db', { create: true });
  let db = await env.openDatabase('b.db', { create: true });
  for (let i = 0; i < 150; i++) {
    const v = i === 40 || i === 41 ? 'big'.repeat(2000 + i) : `value-${i}`.repeat(1 + (i % 9));
    await da.put(key(i), v);
    a.set(key(i), v);
    if (i === 75) await env.checkpoint();
  }
  for (let i = 0; i < 60; i++) {
    const v = i === 30 ? 'bee'.repeat(1500) : `b-${i}`.repeat(1 + (i % 5));
    await db.put(key(i), v);
    b.set(key(i), v);
  }
  for (let i = 0; i < 150; i += 5) {
    await da.del(key(i)); // frees key 40's overflow chain
    a.delete(key(i));
  }
  await env.close();
  const closed1 = vfs.snapshotFiles();

  // Phase 2: the second clean close (the pages of phase 1 are stale older copies now).
  env = await Environment.open(HOME, { autoRemoveLogs: false, ...opts });
  da = await env.openDatabase('a.db');
  db = await env.openDatabase('b.db');
  for (let i = 1; i < 150; i += 3) {
    if (!a.has(key(i))) continue;
    const v = i === 41 ? 'new'.repeat(2100) : `second-${i}`.repeat(1 + (i % 7));
    await da.put(key(i), v);
    a.set(key(i), v);
  }
  for (let i = 0; i < 4; i++) {
    const v = `over${i}`.repeat(700 + 100 * i);
    await da.put(`ovf${i}`, v);
    a.set(`ovf${i}`, v);
  }
  await da.del('ovf1'); // a free chain in phase 2 too
  a.delete('ovf1');
  for (let i = 0; i < 60; i += 4) {
    await db.put(key(i), `b2-${i}`);
    b.set(key(i), `b2-${i}`);
  }
  await env.close();
  const closed2 = vfs.snapshotFiles();
  const model2 = copyContents(model);

  // Phase 3: commits after a checkpoint over several log files, then a large last transaction,
  // and a power loss after its acknowledgement (the environment is never closed).
  env = await Environment.open(HOME, { autoRemoveLogs: false, ...opts });
  da = await env.openDatabase('a.db');
  db = await env.openDatabase('b.db');
  const crashedModels: Contents[] = [copyContents(model)];
  for (let i = 0; i < 80; i++) {
    if (i === 0) await env.checkpoint();
    const d = i % 3 === 0 ? db : da;
    const m = i % 3 === 0 ? b : a;
    const k = key((i * 37) % 150);
    const v = `third-${i}`.repeat(2 + (i % 11));
    await d.put(k, v);
    m.set(k, v);
    crashedModels.push(copyContents(model));
  }
  // The last transaction (~6 KiB of records) must lie in one log file (the log cases cut it at
  // every sector): small commits until the current file has room for it, however the log's
  // layout shifts (e.g. the checkpoints' meta page images).
  for (let i = 0; lsnOffset(env.logEnd) + 8 * 1024 > opts.logFileSize; i++) {
    assert.ok(i < 200, 'the log never reached a file with room for the last transaction');
    const k = key((i * 13) % 150);
    const v = `room-${i}`.repeat(20);
    await da.put(k, v);
    a.set(k, v);
    crashedModels.push(copyContents(model));
  }
  const t = env.begin();
  for (let j = 0; j < 4; j++) {
    const v = j === 0 ? 'last'.repeat(1300) : `last-${j}`.repeat(20);
    da.put(`last${j}`, v, t);
    a.set(`last${j}`, v);
  }
  await t.commit();
  crashedModels.push(copyContents(model));
  const crashed = vfs.durableFiles();
  const control = JSON.parse(crashed.get(`${HOME}/__cairn.control`)!.toString('utf8').split('\n')[0]!) as { redo: number; state: string };
  assert.equal(control.state, 'open', 'the crashed image must need recovery');
  return { closed1, closed2, model2, crashed, crashedModels, crashedRedo: { file: lsnFile(control.redo), offset: lsnOffset(control.redo) } };
}

/**
 * Opens the image (after a catastrophic recovery when asked), reads every database of every
 * data file in full (range, then a get of each key), checks each tree verifies, and finally
 * uses every free page (a value larger than the file, so that allocation walks the whole free
 * list). Returns what the reads saw. Any damage detected surfaces as the thrown error.
 */
export async function readAll(vfs: SimVfs, catastrophic: boolean): Promise<Contents> {
  if (catastrophic) await Environment.recover(HOME, { vfs, catastrophic: true });
  const env = await Environment.open(HOME, { autoRemoveLogs: false, vfs, checkpoint: false });
  try {
    const out: Contents = new Map();
    for (const file of FILES) {
      for (const name of env.listDatabases(file)) {
        const d = await env.openDatabase(file, name === '' ? {} : { name });
        const got = new Map([...d.range()].map(([k, v]) => [k.toString(), v.toString()]));
        for (const k of got.keys()) assert.equal(d.get(k)?.toString(), got.get(k), `get(${k}) differs from range() in ${file}/${name}`);
        out.set(`${file}/${name}`, got);
        const problems = d.verify();
        assert.deepEqual(problems, [], `${file}/${name} reads back but does not verify`);
      }
    }
    for (const file of FILES) {
      // Free pages have type 0 (damage may hide a few: a margin of 4 pages).
      const data = vfs.readFile(`${HOME}/${file}`);
      let free = 4;
      for (let at = 0; at + PAGE_SIZE <= data.length; at += PAGE_SIZE) if (data[at + 20] === 0 && data.readUInt32LE(at) !== 0) free++;
      const d = await env.openDatabase(file);
      await d.put('\u{10ffff}probe', Buffer.alloc(free * PAGE_SIZE, 1));
    }
    return out;
  } finally {
    await env.close();
  }
}

export function sameContents(a: Contents, b: Contents): boolean {
  if (a.size !== b.size) return false;
  for (const [n, m] of a) {
    const o = b.get(n);
    if (o === undefined || o.size !== m.size) return false;
    for (const [k, v] of m) if (o.get(k) !== v) return false;
  }
  return true;
}

/** What a case may end in. */
export interface Expect {
  /** The error must name one of these (a path or a file name). */
  names: string[];
  /** When set, the error must be a CorruptionError with this file and an offset in [offset, offset + span) (span 1: exactly). */
  at?: { file: string; offset: number; span: number };
  /** When set, a state equal to this model is an allowed outcome (the damage cannot matter, or it was repaired). */
  model?: Contents;
  /** A typed error is not allowed (torn tails, bytes after the end of the log). */
  mustSucceed?: boolean;
}

export type Outcome = 'detected' | 'equal';

/** Runs one read and judges it; throws an AssertionError (with `what`) on any wrong outcome. */
export async function judge(what: string, expect: Expect, read: () => Promise<Contents>): Promise<Outcome> {
  let got: Contents;
  try {
    got = await read();
  } catch (e) {
    if (e instanceof assert.AssertionError) throw new assert.AssertionError({ message: `${what}: ${e.message}` });
    assert.ok(e instanceof CairnError, `${what}: untyped error ${(e as Error)?.stack ?? String(e)}`);
    assert.ok(!expect.mustSucceed, `${what}: must read back as the model, but failed: ${e.code}: ${e.message}`);
    assert.ok(['CORRUPT', 'RUN_RECOVERY', 'NOT_FOUND'].includes(e.code), `${what}: unexpected code ${e.code}: ${e.message}`);
    assert.ok(
      expect.names.some((n) => e.message.includes(n)),
      `${what}: the error does not name ${expect.names.join(' or ')}: ${e.code}: ${e.message}`,
    );
    if (e instanceof CorruptionError) assert.ok(e.file.length > 0 && e.offset >= 0, `${what}: no file or offset`);
    if (expect.at !== undefined) {
      assert.ok(e instanceof CorruptionError, `${what}: expected a CorruptionError at ${expect.at.file} offset ${expect.at.offset}, got ${e.code}: ${e.message}`);
      const { file, offset, span } = expect.at;
      const inside = e.offset >= offset && e.offset < offset + span;
      assert.ok(e.file === file && inside, `${what}: wrong file or offset (expected ${file} at ${span === 1 ? offset : `${offset}..${offset + span - 1}`}): ${e.message}`);
    }
    return 'detected';
  }
  assert.ok(expect.model !== undefined, `${what}: the damage was not detected (the read succeeded)`);
  assert.ok(sameContents(got, expect.model), `${what}: WRONG DATA returned (the read succeeded with values that differ from the model)`);
  return 'equal';
}

/** Record boundaries of the log in an image: path, offset, end, and the durable claim of commits and checkpoints. */
export interface LogRecordSpan {
  fileNo: number;
  path: string;
  offset: number;
  end: number;
  type: string;
  txn: number;
  /** commit/checkpoint: the log was durable to this LSN when the record was written; else 0. */
  durable: number;
}

export function logRecords(files: Files): LogRecordSpan[] {
  const vfs = SimVfs.fromFiles(files);
  const reader = new LogReader(vfs, HOME);
  const out: LogRecordSpan[] = [];
  for (const raw of reader.records()) {
    const rec = reader.decode(raw);
    out.push({
      fileNo: lsnFile(raw.lsn),
      path: reader.pathOf(lsnFile(raw.lsn)),
      offset: lsnOffset(raw.lsn),
      end: lsnOffset(raw.next),
      type: rec.type,
      txn: 'txn' in rec ? rec.txn : -1,
      durable: rec.type === 'commit' || rec.type === 'checkpoint' ? rec.durable : 0,
    });
  }
  return out;
}
