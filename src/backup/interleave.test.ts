// Backup and failover interleavings at I/O granularity (issue 4 item 5) on the simulated file
// system. A writer (group commits, a large transaction spanning log files, checkpoints,
// automatic checkpoints, log file switches, database create/remove) runs once per workload seed
// on a RecordingVfs; then, for each interleaving, a Replica replays its calls while the copier
// works on a ScheduledVfs: before EVERY copier call (open, read, write, size, truncate, sync,
// stat, readdir, rename, unlink, syncDir, ...) a seeded scheduler lets 0..B writer calls run
// (testing/backupkit.ts explains why this is the same as a live writer). The copier is one of
//   hot     runHotBackup (the code of env.hotBackup / db_hotbackup): a full backup, then -u rounds;
//   manual  the five-step procedure of docs/BACKUP.md: data files copied with odd read sizes, the
//           inactive logs (as the owner lists them) moved, the remaining logs copied newest
//           first, Environment.recover({ catastrophic: true }); steps 2-4 repeated.
// Oracle, after every round: the copy verifies, and its state equals the model after some commit
// prefix that holds every commit acknowledged before the copier started on the log files and no
// commit that had not been issued when the round ended. Then failover: the primary is dropped
// (its disk survives in half the cases: one more round takes its last logs), the copy is opened
// as the new primary, the writer continues on it, a reopen shows the continued model; after that
// -u into it is refused, and catastrophic recovery over the old primary's logs copied into it
// is refused with its history error (then the copy's own logs put back recover the model) or
// yields exactly the model (never the old history or a mix).
// Negative interleavings (manual copier): logs copied before the data files, a middle log
// missing, the first log missing, a foreign data file: each refused with its specific error (the
// first log missing: refused naming it when a copied data file's meta page needs it — needsLog —
// and otherwise recovered with every acknowledged commit).
//
// Replay one: CAIRN_SEED=<workload> CAIRN_INTERLEAVING=<n> node --test dist/backup/interleave.test.js
// (CAIRN_DEBUG=1 prints each interleaving's plan).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { SimVfs } from '../io/sim.js';
import type { Vfs } from '../io/vfs.js';
import { LOG_HEADER_SIZE, logFileName } from '../log/file.js';
import { listLogFiles } from '../log/reader.js';
import { CairnError, IoError } from '../util/errors.js';
import { type Lsn, lsnFile } from '../util/lsn.js';
import { randInt, rng, testSeeds } from '../util/random.js';
import { type BackupSource, runHotBackup } from './hotbackup.js';
import { listDataFiles, readLayout } from './layout.js';
import { RecordingVfs, Replica, ScheduledVfs, type WriterOp } from '../testing/backupkit.js';
import { openDataFile } from '../recovery/check.js';

/** The needsLog of a data file's meta page; 0 when none or when the page fails its checks (recovery then trusts nothing in it). */
function needsLogOf(vfs: Vfs, p: string, envId: Buffer): Lsn {
  return openDataFile(vfs, path.basename(p), p, envId)?.needsLog ?? 0;
}

const HOME = '/primary';
const COPY = '/copy';
const nightly = process.env['CAIRN_NIGHTLY'] === '1';
const WORKLOADS = nightly ? 100 : 10;
const PER_WORKLOAD = nightly ? 100 : 50;
const debug = process.env['CAIRN_DEBUG'] === '1';
const LOG_CHUNK = process.env['CAIRN_LOG_CHUNK'] ? Number(process.env['CAIRN_LOG_CHUNK']) : undefined;

type State = Map<string, string>;

/** One live run of the writer: its calls and, per commit, the model and when it was issued and acknowledged. */
interface Recording {
  ops: WriterOp[];
  envId: Buffer;
  /** states[i]: the model after commit i (states[0]: nothing). */
  states: State[];
  /** Writer calls made before commit i was issued (its records are written after). */
  issuedAt: number[];
  /** Writer calls made when commit i was acknowledged. */
  ackedAt: number[];
  /** After k writer calls: the redo point and the removable logs the owner would report. */
  redo: Array<Lsn | undefined>;
  removable: Array<number[] | undefined>;
}

const key = (i: number) => `k${String(i).padStart(4, '0')}`;

async function record(seed: number): Promise<Recording> {
  const r = rng(seed);
  const rec = new RecordingVfs(new SimVfs());
  const out: Recording = { ops: rec.ops, envId: Buffer.alloc(0), states: [new Map()], issuedAt: [0], ackedAt: [0], redo: [undefined], removable: [undefined] };
  let env: Environment | undefined;
  rec.after = () => {
    let redo: Lsn | undefined;
    let removable: number[] | undefined;
    if (env !== undefined) {
      try {
        redo = env.redoPoint;
        removable = env.removableLogs();
      } catch {
        // closed
      }
    }
    out.redo.push(redo);
    out.removable.push(removable);
  };
  rec.mkdir(HOME, { recursive: true });
  const model: State = new Map();
  const commit = async (change: () => Promise<unknown>, apply: () => void) => {
    apply();
    out.states.push(new Map(model));
    out.issuedAt.push(rec.ops.length);
    const i = out.states.length - 1;
    out.ackedAt.push(Infinity);
    await change();
    out.ackedAt[i] = rec.ops.length;
  };
  env = await Environment.open(HOME, { create: true, autoRemoveLogs: false, vfs: rec, logFileSize: 32 * 1024, pageSize: 1024, checkpoint: { kbytes: 24 + randInt(r, 40) } });
  out.envId = env.envId;
  const e = env;
  let a!: Awaited<ReturnType<Environment['openDatabase']>>;
  await commit(async () => (a = await e.openDatabase('a.db', { create: true })), () => model.set('a.db', ''));
  let n = 0;
  const group = () => {
    const jobs: Array<Promise<void>> = [];
    for (let t = 0, count = 1 + randInt(r, 8); t < count; t++) {
      const i = n++;
      const changes: Array<[string, string | undefined]> = [];
      for (let j = 0, m = 1 + randInt(r, 4); j < m; j++) {
        const k = key(randInt(r, 300));
        changes.push([k, j > 0 && randInt(r, 5) === 0 ? undefined : `${i}.${j}:`.repeat(1 + randInt(r, 60))]);
      }
      jobs.push(
        commit(
          () => e.transaction((txn) => changes.forEach(([k, v]) => (v === undefined ? a.del(k, txn) : a.put(k, v, txn)))),
          () => changes.forEach(([k, v]) => (v === undefined ? model.delete(`a.db/${k}`) : model.set(`a.db/${k}`, v))),
        ),
      );
    }
    return Promise.all(jobs);
  };
  let b: Awaited<ReturnType<Environment['openDatabase']>> | undefined;
  const rounds = 14;
  for (let round = 0; round < rounds; round++) {
    await group();
    if (round === 3) {
      // A large transaction: overflow values over more than one log file.
      const big = Array.from({ length: 6 }, (_, j) => [key(400 + j), `big${round}.${j}`.repeat(1500 + randInt(r, 1500))] as const);
      await commit(
        () => e.transaction((txn) => big.forEach(([k, v]) => a.put(k, v, txn))),
        () => big.forEach(([k, v]) => model.set(`a.db/${k}`, v)),
      );
    }
    if (round === 2 || round === 7 || round === 11) await e.checkpoint();
    if (round === 5) {
      await commit(async () => (b = await e.openDatabase('b.db', { create: true })), () => model.set('b.db', ''));
      await commit(() => b!.put('x', `b${seed}`), () => model.set('b.db/x', `b${seed}`));
    }
    if (round === 9) await commit(() => e.removeDatabase('b.db'), () => (model.delete('b.db'), model.delete('b.db/x')));
  }
  await env.close();
  env = undefined;
  return out;
}

/** The databases of a copy (opened read-only) as a model map; every tree verifies. */
async function readState(vfs: Vfs, dir: string, where: string): Promise<State> {
  const env = await Environment.open(dir, { vfs, readOnly: true });
  try {
    return await stateOf(env, where);
  } finally {
    await env.close();
  }
}

async function stateOf(env: Environment, where: string): Promise<State> {
  const got: State = new Map();
  for (const name of ['a.db', 'b.db']) {
    let db;
    try {
      db = await env.openDatabase(name);
    } catch (e) {
      if (e instanceof CairnError && e.code === 'NOT_FOUND') continue;
      throw e;
    }
    got.set(name, '');
    for (const [k, v] of db.range()) got.set(`${name}/${k.toString()}`, v.toString());
    assert.deepEqual(db.verify(), [], `${where}: ${name} does not verify`);
  }
  return got;
}

function same(a: State, b: State): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** The highest commit index whose acknowledgement / issue came within the first `at` writer calls. */
function ackedBy(rec: Recording, at: number): number {
  let m = 0;
  for (let i = 0; i < rec.ackedAt.length; i++) if (rec.ackedAt[i]! <= at) m = Math.max(m, i);
  return m;
}
function issuedBy(rec: Recording, at: number): number {
  let m = 0;
  for (let i = 0; i < rec.issuedAt.length; i++) if (rec.issuedAt[i]! < at) m = Math.max(m, i);
  return m;
}

/** The oracle: `got` is the model after a prefix j with acked <= j <= issued; returns j. */
function checkPrefix(rec: Recording, got: State, acked: number, issued: number, where: string): number {
  const matches: number[] = [];
  for (let j = 0; j < rec.states.length; j++) if (same(rec.states[j]!, got)) matches.push(j);
  assert.ok(matches.length > 0, `${where}: the copy (${got.size} entries) equals the model after no commit prefix`);
  const ok = matches.filter((j) => j >= acked && j <= issued);
  assert.ok(ok.length > 0, `${where}: the copy is the model after commit ${matches.join('/')}, but ${acked} were acknowledged before the log copy began and ${issued} issued by its end`);
  return ok[ok.length - 1]!;
}

type Copier = 'hot' | 'manual';
type Negative = 'none' | 'logs-first' | 'middle-missing' | 'first-missing' | 'foreign';

interface Outcome {
  rounds: number;
  /** What happened to the negative case, or after failover to the old primary's logs ("refused:foreign", ...). */
  tally: string[];
}

let foreignBytes: Buffer | undefined;
/** CAIRN_LOG_CHUNK runs: recoveries refused for zeros between records in a chunked log copy. */
let fuzzyLogRefusals = 0;
async function foreignDataFile(): Promise<Buffer> {
  if (foreignBytes) return foreignBytes;
  const vfs = new SimVfs();
  const env = await Environment.open('/other', { create: true, vfs, pageSize: 1024, checkpoint: false });
  await (await env.openDatabase('foreign.db', { create: true })).put('x', 'y');
  await env.close();
  foreignBytes = vfs.readFile('/other/foreign.db');
  return foreignBytes;
}

async function interleaving(rec: Recording, seed: number, index: number): Promise<Outcome> {
  const r = rng(seed * 1_000_003 + index);
  const copier: Copier = randInt(r, 2) === 0 ? 'hot' : 'manual';
  const negatives: Negative[] = copier === 'hot' ? ['middle-missing', 'first-missing'] : ['logs-first', 'middle-missing', 'foreign', 'first-missing'];
  const negative: Negative = randInt(r, 3) === 0 ? negatives[randInt(r, negatives.length)]! : 'none';
  const q = [0.1, 0.3, 0.6, 0.9][randInt(r, 4)]!;
  const burst = [1, 3, 10, 40][randInt(r, 4)]!;
  const rounds = 1 + randInt(r, 3);
  const survives = randInt(r, 2) === 0;
  // The writer call count fingerprints the recording (file ids are random, so a replay's log can differ by a byte).
  const where0 = `workload seed ${seed} (${rec.ops.length} writer calls), interleaving ${index} (replay: CAIRN_SEED=${seed} CAIRN_INTERLEAVING=${index}): ${copier}${negative !== 'none' ? ` ${negative}` : ''}, p=${q} burst=${burst}, ${rounds} rounds, primary disk ${survives ? 'survives' : 'lost'}`;
  if (debug) console.error(where0);

  const replica = new Replica(rec.ops);
  // Start once the environment and a.db exist (a copier needs an environment to copy).
  replica.advance(rec.ackedAt[1]! + randInt(r, Math.max(1, Math.floor(rec.ops.length * 0.6))));
  let logStart: number | undefined; // writer calls made when the copier first touched a source log
  const isSourceLog = (p: string) => p.startsWith(`${HOME}/log.`);
  const vfs = new ScheduledVfs(
    replica,
    () => (r() < q ? 1 + randInt(r, burst) : 0),
    (call, p) => {
      if (logStart === undefined && (call === 'open' || call === 'rename') && isSourceLog(p)) logStart = replica.at;
    },
  );
  const raw = replica.vfs;
  const dirs = readLayout(raw, HOME);

  const source: BackupSource = {
    dirs,
    envId: rec.envId,
    checkpoint: () => Promise.reject(new Error('not used: the recorded writer checkpoints by itself')),
    pin: async () => {
      const logFiles = listLogFiles(vfs, HOME);
      const redo = rec.redo[replica.at];
      assert.ok(redo !== undefined, `${where0}: no redo point at writer call ${replica.at}`);
      const removable = (rec.removable[replica.at] ?? []).filter((n) => logFiles.includes(n));
      return { redo, end: redo, removable, logFiles, release: () => {} };
    },
  };

  /** Copies a whole file through the scheduled vfs with reads of `chunk` bytes (cp). */
  const copyFile = (from: string, to: string, chunk: number) => {
    const src = vfs.open(from, { readOnly: true });
    const dst = vfs.open(to, { create: true });
    try {
      dst.truncate(0);
      const buf = Buffer.alloc(chunk);
      for (let at = 0; ; ) {
        const got = src.read(buf, at);
        if (got === 0) break;
        dst.write(buf.subarray(0, got), at);
        at += got;
      }
      dst.sync();
    } finally {
      src.close();
      dst.close();
    }
  };
  const chunk = () => [512, 1000, 4096, 10_000, 65_536][randInt(r, 5)]!;
  const step1 = () => {
    vfs.mkdir(COPY, { recursive: true });
    for (const f of listDataFiles(vfs, dirs, rec.envId).own) {
      try {
        copyFile(f.path, path.join(COPY, f.name), chunk());
      } catch (e) {
        // Removed since the listing (cp says so and goes on): the log replays the removal.
        if (!(e instanceof IoError && e.errno === 'ENOENT' && raw.stat(f.path) === undefined)) throw e;
      }
    }
  };
  const step2 = () => {
    const present = listLogFiles(vfs, HOME);
    for (const n of rec.removable[replica.at] ?? []) if (present.includes(n)) vfs.rename(path.join(HOME, logFileName(n)), path.join(COPY, logFileName(n)));
  };
  const step3 = () => {
    if (logStart === undefined) logStart = replica.at;
    // One read per log file unless CAIRN_LOG_CHUNK says otherwise: a chunked copy of the log
    // file being appended to can catch a hole (see the note at the end of this file).
    const c = LOG_CHUNK ?? 64 * 1024;
    for (const n of listLogFiles(vfs, HOME).reverse()) copyFile(path.join(HOME, logFileName(n)), path.join(COPY, logFileName(n)), c);
  };

  const expectRefusal = async (what: Negative, re: RegExp, orCorrect: boolean, where: string) => {
    try {
      await Environment.recover(COPY, { catastrophic: true, vfs: raw });
    } catch (e) {
      assert.ok(e instanceof CairnError, `${where}: ${what}: not a typed error: ${(e as Error).stack}`);
      assert.match(e.message, re, `${where}: ${what}: refused with the wrong error`);
      await assert.rejects(Environment.open(COPY, { vfs: raw }), /db_recover -c/, `${where}: ${what}: a normal open after the refusal`);
      return true;
    }
    assert.ok(orCorrect, `${where}: ${what}: catastrophic recovery accepted the copy`);
    // Nothing was lost after all (e.g. the data files already held the missing log's changes).
    checkPrefix(rec, await readState(raw, COPY, where), ackedBy(rec, logStart!), issuedBy(rec, replica.at), `${where}: ${what} accepted`);
    return false;
  };

  // ---- the rounds -----------------------------------------------------------------------------
  let j = 0;
  let done = 0;
  for (let round = 0; round < rounds + (survives ? 1 : 0); round++) {
    const last = round === rounds; // the failover round: the primary has stopped
    if (last) {
      replica.advance(rec.ops.length); // the primary ran to its end (closed) ... or died here: same logs
      replica.stopped = true;
    } else if (round > 0) replica.advance(randInt(r, 400));
    logStart = undefined;
    const where = `${where0}, round ${round}`;
    if (copier === 'hot' && negative !== 'none' && round === 0) {
      // Copied without recovery (db_hotbackup --no-recover), then a log file goes missing.
      await runHotBackup(source, COPY, { vfs, recover: false });
      const logs = listLogFiles(raw, COPY);
      if (logs.length < (negative === 'middle-missing' ? 3 : 2)) return { rounds: 0, tally: [`skipped:${negative}`] };
      const gone = negative === 'first-missing' ? logs[0]! : logs[1 + randInt(r, logs.length - 2)]!;
      raw.unlink(path.join(COPY, logFileName(gone)));
      const re =
        negative === 'first-missing'
          ? new RegExp(`backup ${COPY} starts at ${logFileName(gone + 1).replace('.', '\\.')}, later than its recorded start \\[\\d+\\]\\[\\d+\\] \\(__cairn\\.backup\\.json\\): log files ${logFileName(gone).replace('.', '\\.')} are missing`)
          : new RegExp(`log file ${logFileName(gone).replace('.', '\\.')} is missing in ${COPY} \\(have ${logFileName(gone + 1).replace('.', '\\.')} after it\\)`);
      await expectRefusal(negative, re, false, where);
      return { rounds: 0, tally: [`refused:${negative}`] };
    } else if (copier === 'hot') {
      await runHotBackup(source, COPY, { vfs, update: round > 0 });
    } else if (negative !== 'none' && round === 0) {
      if (negative === 'logs-first') {
        vfs.mkdir(COPY, { recursive: true });
        step3();
        replica.advance(200 + randInt(r, 400));
        step1();
        const refused = await expectRefusal(negative, /past the end of the log at \[\d+\]\[\d+\]: the log files were copied before the data files/, true, where);
        return { rounds: 0, tally: [`${refused ? 'refused' : 'accepted'}:${negative}`] };
      }
      step1();
      step2();
      step3();
      const logs = listLogFiles(raw, COPY);
      if (negative === 'middle-missing') {
        if (logs.length < 3) return { rounds: 0, tally: [`skipped:${negative}`] };
        const gone = logs[1 + randInt(r, logs.length - 2)]!;
        raw.unlink(path.join(COPY, logFileName(gone)));
        await expectRefusal(negative, new RegExp(`log file ${logFileName(gone).replace('.', '\\.')} is missing in ${COPY} \\(have ${logFileName(gone + 1).replace('.', '\\.')} after it\\)`), false, where);
        return { rounds: 0, tally: [`refused:${negative}`] };
      }
      if (negative === 'first-missing') {
        if (logs.length < 2) return { rounds: 0, tally: [`skipped:${negative}`] };
        raw.unlink(path.join(COPY, logFileName(logs[0]!)));
        // Each copied data file's meta page names the log it needs (the redo point of the last
        // checkpoint that wrote it): a copy one of whose files needs the missing log must be
        // refused, naming it; one whose files all need later logs only must recover correctly.
        const needs = listDataFiles(raw, readLayout(raw, COPY), rec.envId).own.map((f) => ({ f, lsn: needsLogOf(raw, f.path, rec.envId) }));
        const needy = needs.find((n) => n.lsn > 0 && lsnFile(n.lsn) <= logs[0]!);
        // Or, when the copy's new first log file is the one the writer was creating (its header
        // torn in the copy) and no control file names the environment: refused before the data
        // files can be read, for the damaged header.
        const re = new RegExp(
          `data file ${COPY}/.* needs the log from \\[${logs[0]!}\\]\\[\\d+\\], but the first log file is ${logFileName(logs[1]!).replace('.', '\\.')}: copy ${logFileName(logs[0]!).replace('.', '\\.')} from the primary or its archive, then run db_recover -c` +
            (logs.length === 2 ? `|^${COPY}/${logFileName(logs[1]!).replace('.', '\\.')} at offset 0: log file header is damaged$` : ''),
        );
        const refused = await expectRefusal(negative, re, needy === undefined, `${where} (data files need ${needs.map((n) => `${n.f.name} ${n.lsn > 0 ? `log ${lsnFile(n.lsn)}` : 'none'}`).join(', ')})`);
        return { rounds: 0, tally: [`${refused ? 'refused' : 'accepted'}:${negative}`] };
      }
      raw.writeFile(path.join(COPY, 'foreign.db'), await foreignDataFile());
      await expectRefusal(negative, /data file .*foreign\.db belongs to another environment \(id [0-9a-f]{32}, this one is [0-9a-f]{32}\); remove it or copy the right one/, false, where);
      return { rounds: 0, tally: [`refused:${negative}`] };
    } else {
      if (round === 0) step1();
      step2();
      step3();
      for (let attempt = 1; ; attempt++) {
        try {
          await Environment.recover(COPY, { catastrophic: true, vfs });
          break;
        } catch (e) {
          // CAIRN_LOG_CHUNK (a known gap): a chunked copy of the active log can hold zeros
          // between records; recovery refuses it, and copying the logs again is the remedy.
          if (LOG_CHUNK === undefined || attempt >= 5 || !(e instanceof CairnError && /bad log record before valid ones/.test(e.message))) throw e;
          fuzzyLogRefusals++;
          step3();
        }
      }
    }
    assert.ok(logStart !== undefined, `${where}: the copier never touched a log file`);
    const acked = ackedBy(rec, logStart);
    const issued = issuedBy(rec, replica.at);
    const got = await readState(raw, COPY, where);
    const k = checkPrefix(rec, got, acked, issued, where);
    assert.ok(k >= j, `${where}: the copy went back from commit ${j} to ${k}`);
    j = k;
    done++;
    if (last) assert.equal(j, rec.states.length - 1, `${where}: after the primary's last logs, every commit is in the copy`);
  }

  // ---- failover: the copy becomes the primary and the writer continues on it ------------------
  replica.stopped = true;
  const where = `${where0}, failover at commit ${j}`;
  const model = new Map(rec.states[j]!);
  const fo = await Environment.open(COPY, { vfs: raw, checkpoint: false });
  try {
    assert.ok(same(await stateOf(fo, where), model), `${where}: opened read-write, the copy is not the model after commit ${j}`);
    const a = await fo.openDatabase('a.db');
    for (let t = 0, count = 2 + randInt(r, 6); t < count; t++) {
      const k = key(randInt(r, 300));
      const v = `failover.${index}.${t}`;
      await fo.transaction((txn) => a.put(k, v, txn));
      model.set(`a.db/${k}`, v);
    }
    if (randInt(r, 2) === 0) await fo.checkpoint();
  } finally {
    await fo.close();
  }
  assert.ok(same(await readState(raw, COPY, where), model), `${where}: after the writer continued on the copy, a reopen shows another state`);

  if (copier === 'hot') {
    // -u into a copy that was failed over to would mix two histories: refused, nothing changed.
    const before = raw.snapshotFiles();
    await assert.rejects(runHotBackup(source, COPY, { vfs: raw, update: true }), /was opened as an environment since its last backup .*it has a history of its own now/, `${where}: -u after failover`);
    assert.deepEqual(raw.snapshotFiles(), before, `${where}: a refused -u changed files`);
  } else {
    // The old primary's logs copied over the new primary's (which started a history of its own
    // at its first read-write open): refused, or (when they hold nothing the copy lacks) exactly
    // the continued model; never the old history or a mix. After a refusal, putting the copy's
    // own log files back recovers the continued model.
    const own = new Map<number, Buffer>();
    for (const n of listLogFiles(raw, COPY)) own.set(n, raw.readFile(path.join(COPY, logFileName(n))));
    for (const n of listLogFiles(raw, HOME).reverse()) raw.writeFile(path.join(COPY, logFileName(n)), raw.readFile(path.join(HOME, logFileName(n))));
    try {
      await Environment.recover(COPY, { catastrophic: true, vfs: raw });
    } catch (e) {
      assert.ok(e instanceof CairnError, `${where}: old primary's logs: not a typed error: ${(e as Error).stack}`);
      assert.match(
        e.message,
        /log file log\.\d{10} belongs to history [0-9a-f]{16}, but this environment continues history [0-9a-f]{16} since its failover at \[\d+\]\[\d+\]: the old primary's logs were copied over it|log records of history [0-9a-f]{16} go on past offset \d+, where history [0-9a-f]{16} \(log\.\d{10}\) forked from it: the old primary's log files were copied over a failed-over copy/,
        `${where}: old primary's logs refused with the wrong error`,
      );
      for (const n of listLogFiles(raw, COPY)) if (!own.has(n)) raw.unlink(path.join(COPY, logFileName(n)));
      for (const [n, bytes] of own) raw.writeFile(path.join(COPY, logFileName(n)), bytes);
      await Environment.recover(COPY, { catastrophic: true, vfs: raw });
      assert.ok(same(await readState(raw, COPY, where), model), `${where}: with its own log files put back after the refusal, the copy does not recover to the continued model`);
      return { rounds: done, tally: [`refused:old-primary-logs`, `message:${e.message.replace(/[0-9a-f]{16}/g, 'H').replace(/\d+/g, 'N').replace(/^.*?: /, '').slice(0, 50)}`] };
    }
    const got = await readState(raw, COPY, where);
    // 'new': the old primary's logs held nothing the copy lacked (the same files up to the fork).
    // 'old': the new primary's acknowledged commits silently gone; 'mixed': neither history.
    const which = same(got, model) ? 'new' : rec.states.some((s) => same(s, got)) ? 'old' : 'mixed';
    assert.ok(which === 'new', `${where}: the old primary's logs copied over the failed-over copy were accepted: recovered to ${which === 'old' ? "the old primary's history (the new primary's commits are lost)" : 'a mix of both histories'}`);
    return { rounds: done, tally: [`accepted-${which}:old-primary-logs`] };
  }
  return { rounds: done, tally: [] };
}

test(`backup and failover interleaved with a writer at I/O granularity: ${WORKLOADS} workloads x ${PER_WORKLOAD} interleavings`, async () => {
  const only = process.env['CAIRN_INTERLEAVING'];
  let cases = 0;
  let rounds = 0;
  const tally = new Map<string, number>();
  for (const seed of testSeeds(WORKLOADS)) {
    const rec = await record(seed);
    const indexes = only !== undefined && only !== '' ? [Number(only)] : Array.from({ length: PER_WORKLOAD }, (_, i) => i + 1);
    for (const index of indexes) {
      let o: Outcome;
      try {
        o = await interleaving(rec, seed, index);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        throw new Error(`workload seed ${seed}, interleaving ${index} (replay: CAIRN_SEED=${seed} CAIRN_INTERLEAVING=${index}${LOG_CHUNK ? ` CAIRN_LOG_CHUNK=${LOG_CHUNK}` : ''}): ${(e as Error).message}`, { cause: e });
      }
      cases++;
      rounds += o.rounds;
      if (debug) console.error(`  -> ${o.rounds} rounds ${o.tally.join(' ')}`);
      for (const t of o.tally) tally.set(t, (tally.get(t) ?? 0) + 1);
    }
  }
  process.stdout.write(`interleavings: ${cases}, copy rounds checked: ${rounds}, negative cases: ${JSON.stringify(Object.fromEntries([...tally].sort()))}${LOG_CHUNK ? `, chunked log copies refused and copied again: ${fuzzyLogRefusals}` : ''}\n`);
  if (only === undefined && process.env['CAIRN_SEED'] === undefined) {
    assert.ok(cases >= (nightly ? 10_000 : 500), `only ${cases} interleavings`);
    for (const n of ['logs-first', 'middle-missing', 'first-missing', 'foreign', 'old-primary-logs']) assert.ok((tally.get(`refused:${n}`) ?? 0) > 0, `no interleaving was refused for ${n}`);
  }
});

/** A writer that fills one long log file with sequential commits (for the chunk-boundary test). */
async function recordLong(logFileSize: number, logBytes: number): Promise<Recording & { logEnd: number[] }> {
  const rec = new RecordingVfs(new SimVfs());
  const out: Recording & { logEnd: number[] } = { ops: rec.ops, envId: Buffer.alloc(0), states: [new Map()] as State[], issuedAt: [0], ackedAt: [0], redo: [undefined] as Array<Lsn | undefined>, removable: [undefined] as Array<number[] | undefined>, logEnd: [0] };
  let env: Environment | undefined;
  const logHandles = new Set<number>();
  const headerDone = new Set<number>();
  let logEnd = 0;
  rec.after = () => {
    const o = rec.ops[rec.ops.length - 1]!;
    if (o.op === 'open' && o.path.endsWith(logFileName(1))) logHandles.add(o.h);
    if (o.op === 'write' && logHandles.has(o.h)) {
      if (headerDone.has(o.h)) logEnd = Math.max(logEnd, o.pos + o.data.length);
      else if (o.pos === 0 && o.data.length === LOG_HEADER_SIZE) headerDone.add(o.h); // the header is written after the preallocated zeros
    }
    out.logEnd.push(logEnd);
    out.redo.push(env?.redoPoint);
    out.removable.push(env === undefined ? undefined : env.removableLogs());
  };
  rec.mkdir(HOME, { recursive: true });
  env = await Environment.open(HOME, { create: true, autoRemoveLogs: false, vfs: rec, logFileSize, pageSize: 1024, checkpoint: false });
  out.envId = env.envId;
  const model: State = new Map();
  const commit = async (change: () => Promise<unknown>) => {
    out.states.push(new Map(model));
    out.issuedAt.push(rec.ops.length);
    out.ackedAt.push(Infinity);
    const i = out.states.length - 1;
    await change();
    out.ackedAt[i] = rec.ops.length;
  };
  model.set('a.db', '');
  let a!: Awaited<ReturnType<Environment['openDatabase']>>;
  await commit(async () => (a = await env!.openDatabase('a.db', { create: true })));
  for (let i = 0; logEnd < logBytes; i++) {
    const k = key(i % 200);
    const v = `${i}:`.repeat(700);
    model.set(`a.db/${k}`, v);
    await commit(() => a.put(k, v));
    if (i % 100 === 99) await env.checkpoint();
  }
  await env.close();
  env = undefined;
  return out;
}

test('hot backup: the newest log file, longer than one read of the copy, appended across the read boundary while it is copied', async () => {
  const MiB = 1024 * 1024;
  const rec = await recordLong(4 * MiB, MiB + 64 * 1024);
  for (const before of [3000, 700, 1]) {
    // Start with the log end `before` bytes short of 1 MiB; before the copier's second read of
    // the log (its first read past 1 MiB), let the writer run until the log is 16 KiB past it.
    const start = rec.logEnd.findIndex((e) => e >= MiB - before);
    const startAt = start > 0 && rec.logEnd[start]! < MiB ? start : start - 1;
    const target = rec.logEnd.findIndex((e) => e >= MiB + 16 * 1024);
    assert.ok(startAt > 0 && rec.logEnd[startAt]! < MiB && target > startAt, `the recorded log crosses 1 MiB (${rec.logEnd[startAt]})`);
    const replica = new Replica(rec.ops);
    replica.advance(startAt);
    let reads = 0;
    let logStart: number | undefined;
    const vfs = new ScheduledVfs(
      replica,
      (call, p) => (call === 'read' && p.endsWith(logFileName(1)) && ++reads === 3 ? target - replica.at : 0),
      (call, p) => {
        if (logStart === undefined && call === 'open' && p.startsWith(`${HOME}/log.`)) logStart = replica.at;
      },
    );
    const source: BackupSource = {
      dirs: readLayout(replica.vfs, HOME),
      envId: rec.envId,
      checkpoint: () => Promise.reject(new Error('not used')),
      pin: async () => ({ redo: rec.redo[replica.at]!, end: rec.redo[replica.at]!, removable: [], logFiles: listLogFiles(vfs, HOME), release: () => {} }),
    };
    const where = `log end ${before} bytes short of 1 MiB when the copy of the log began`;
    await runHotBackup(source, COPY, { vfs });
    assert.ok(reads >= 3 && replica.at >= target, `${where}: the writer crossed the boundary during the copy (${reads} reads)`);
    checkPrefix(rec, await readState(replica.vfs, COPY, where), ackedBy(rec, logStart!), issuedBy(rec, replica.at), where);
  }
});

// Known gaps (reported in docs/TESTING.md; reproducible, kept out of the per-run assertions):
// - CAIRN_LOG_CHUNK=<bytes>: the five-step procedure's step 3 with `cp`-like reads of that size.
//   A chunked copy of the log file being appended to can read a region before the writer fills it
//   and a later region after: the copy has zeros between records, and catastrophic recovery
//   refuses it as "bad log record before valid ones" (safe, but the documented procedure fails).
//   e.g. CAIRN_LOG_CHUNK=4096 CAIRN_SEED=1 CAIRN_INTERLEAVING=24.
// - (fixed) CAIRN_GAPS=first-missing: a manual copy (no manifest) without its first log files
//   was accepted when no page showed the gap, losing their commits; each data file's meta page
//   now records the log it needs (needsLog) and recovery refuses: the first-missing manual
//   negatives expect that.
// - (fixed) CAIRN_GAPS=old-primary: the old primary's log files copied over a copy that was
//   failed over to were not always refused (recovered to the old history, e.g. CAIRN_SEED=1
//   CAIRN_INTERLEAVING=34, or a mix, CAIRN_SEED=10 CAIRN_INTERLEAVING=7). Log files now carry a
//   history id, new at the copy's first read-write open (src/env/history.ts): such logs are
//   refused in every run, so the variable no longer changes anything.
