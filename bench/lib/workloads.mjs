// The workloads, as run inside one worker process for one engine (see ../worker.mjs).
// Every function gets the engine adapter and the run's context and returns a plain object
// of measurements; the orchestrator (../run.mjs) adds peak RSS, aggregates and prints.
import fs from 'node:fs';
import path from 'node:path';
import { KEY_BYTES, Rng, keyOf, valueOf, freshValue, makeBatch, permutation, keyPool } from './data.mjs';
import { treeSize, fsyncTree, copyTree, cpR, rmTree, epochMs } from './fsutil.mjs';
import { percentile } from './stats.mjs';
import { NotApplicable } from './adapter.mjs';

/**
 * @typedef {object} Ctx
 * @property {number} n          entries in the data set (1,000,000; quick: 100,000)
 * @property {number} seed
 * @property {number} batch      puts per transaction in W1/W1r (1,000)
 * @property {number} cacheBytes engine cache (64 MiB)
 * @property {number} commitMs   W2/W3 duration
 * @property {number} writers    W3 concurrent writers (64)
 * @property {number} readMs     W4 duration
 * @property {number} poolSize   W4 key pool (power of two)
 * @property {number} w6Ms       W6 writer phases before and after the backup
 * @property {string} work       an empty directory of this run, removed by the orchestrator
 * @property {string} base       the closed W1 database of this engine (W4–W6, R1, R2)
 */

/** @typedef {import('./adapter.mjs').Adapter} Adapter */
/** @typedef {import('./adapter.mjs').Handle} Handle */

const MB = 1e6;
const now = () => performance.now();
const yieldMacrotask = () => new Promise((resolve) => setImmediate(resolve));

/** @param {string} dir */
function freshDir(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Loads n entries, `batch` puts per transaction, in `order` (null: sequential). Only the
 * transactions are timed; making each batch's keys and values is not.
 * @param {Handle} h @param {number} n @param {Uint32Array | null} order @param {number} batch @param {number} seed
 */
export async function bulkLoad(h, n, order, batch, seed) {
  let loadMs = 0;
  let genMs = 0;
  for (let start = 0; start < n; start += batch) {
    const g = now();
    const { keys, values } = makeBatch(order, start, Math.min(batch, n - start), seed);
    const t = now();
    const r = h.writeBatch(keys, values);
    if (r) await r;
    loadMs += now() - t;
    genMs += t - g;
  }
  return { loadMs, genMs };
}

/** Checks a few entries of the loaded data set. @param {Handle} h @param {Ctx} ctx */
function verifySample(h, ctx) {
  for (const i of [0, ctx.n >> 1, ctx.n - 1, 12345 % ctx.n]) {
    const v = h.get(keyOf(i));
    if (!v) throw new Error(`verification: key ${i} not found`);
    if (!Buffer.from(v).equals(valueOf(i, ctx.seed))) throw new Error(`verification: key ${i} has a wrong value`);
  }
}

/** Builds this engine's W1 database in ctx.base (untimed set-up for W4–W6, R1, R2). */
export async function prep(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) {
  freshDir(ctx.base);
  const h = await a.open(ctx.base, { cacheBytes: ctx.cacheBytes, durability: 'relaxed' });
  const t = now();
  await bulkLoad(h, ctx.n, null, ctx.batch, ctx.seed);
  await h.flush();
  verifySample(h, ctx);
  await h.close();
  return { ms: now() - t, diskMB: treeSize(ctx.base).allocBytes / MB };
}

/** W1 / W1r: bulk load, 1,000 puts per transaction, relaxed durability, one sync at the end. */
async function load(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx, /** @type {boolean} */ random) {
  const dir = freshDir(path.join(ctx.work, 'db'));
  const order = random ? permutation(ctx.n, ctx.seed) : null;
  const h = await a.open(dir, { cacheBytes: ctx.cacheBytes, durability: 'relaxed' });
  const { loadMs, genMs } = await bulkLoad(h, ctx.n, order, ctx.batch, ctx.seed);
  let t = now();
  const syncMethod = await h.flush();
  const syncMs = now() - t;
  verifySample(h, ctx);
  t = now();
  await h.close();
  const closeMs = now() - t;
  const size = treeSize(dir);
  return {
    entriesPerSec: ctx.n / ((loadMs + syncMs) / 1000),
    entriesPerSecInclClose: ctx.n / ((loadMs + syncMs + closeMs) / 1000),
    loadMs,
    syncMs,
    closeMs,
    genMs,
    diskMB: size.allocBytes / MB,
    files: size.files,
    syncMethod,
  };
}

export const W1 = (/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) => load(a, ctx, false);
export const W1r = (/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) => load(a, ctx, true);

/** W2: one durable put per transaction, one writer, ctx.commitMs. */
export async function W2(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) {
  const dir = freshDir(path.join(ctx.work, 'db'));
  const h = await a.open(dir, { cacheBytes: ctx.cacheBytes, durability: 'sync' });
  const rng = new Rng(ctx.seed ^ 0x2222);
  for (let i = 0; i < 20; i++) {
    const k = rng.below(ctx.n);
    const r = h.putSync1(keyOf(k), freshValue(k, ctx.seed, -1 - i));
    if (r) await r;
  }
  const lat = new Float64Array(1 << 21);
  let c = 0;
  const t0 = now();
  const end = t0 + ctx.commitMs;
  let t = t0;
  while (t < end && c < lat.length) {
    const i = rng.below(ctx.n);
    const k = keyOf(i);
    const v = freshValue(i, ctx.seed, c);
    const s = now();
    const r = h.putSync1(k, v);
    if (r) await r;
    t = now();
    lat[c++] = t - s;
  }
  const elapsed = t - t0;
  await h.close();
  return { commitsPerSec: c / (elapsed / 1000), p50Ms: percentile(lat, c, 50), p99Ms: percentile(lat, c, 99), commits: c };
}

/** W3: the same with ctx.writers concurrent async writers (group commit). */
export async function W3(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) {
  const dir = freshDir(path.join(ctx.work, 'db'));
  const h = await a.open(dir, { cacheBytes: ctx.cacheBytes, durability: 'sync' });
  const lat = new Float64Array(1 << 23);
  let c = 0;
  let end = 0;
  // One generator and commit counter per writer, kept across warm-up and measurement so that no
  // (key, value) pair is written twice.
  const rngs = Array.from({ length: ctx.writers }, (_, w) => new Rng(ctx.seed ^ (0x3333 + w * 7919)));
  const own = new Array(ctx.writers).fill(0);
  /** @param {number} w @param {boolean} record */
  const writer = async (w, record) => {
    const rng = rngs[w];
    while (now() < end) {
      const i = rng.below(ctx.n);
      const k = keyOf(i);
      const v = freshValue(i, ctx.seed ^ w, own[w]++);
      const s = now();
      await h.putConcurrent(k, v);
      if (record && c < lat.length) lat[c++] = now() - s;
    }
  };
  const writers = (/** @type {boolean} */ record) => Promise.all(Array.from({ length: ctx.writers }, (_, w) => writer(w, record)));
  end = now() + Math.min(200, ctx.commitMs / 5); // warm-up
  await writers(false);
  const t0 = now();
  end = t0 + ctx.commitMs;
  await writers(true);
  const elapsed = now() - t0;
  await h.close();
  return {
    commitsPerSec: c / (elapsed / 1000),
    p50Ms: percentile(lat, c, 50),
    p99Ms: percentile(lat, c, 99),
    commits: c,
    writers: ctx.writers,
    mode: a.w3Mode,
  };
}

/**
 * Copies a closed database and flushes the copy, so that the measurement that follows does not
 * compete with the write-back of the copy (an fdatasync on ext4 can wait for it).
 * @param {string} src @param {string} dst
 */
function copyAndSync(src, dst) {
  copyTree(src, dst);
  fsyncTree(dst);
}

/** Opens a private copy of the engine's W1 database (the copy also warms the OS page cache). */
async function openCopy(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx, /** @type {string} */ name) {
  const dir = path.join(ctx.work, name);
  copyAndSync(ctx.base, dir);
  const h = await a.open(dir, { cacheBytes: ctx.cacheBytes, durability: 'sync' });
  return { dir, h };
}

/** W4: warm random point reads with the synchronous get, ctx.readMs. */
export async function W4(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) {
  const { h } = await openCopy(a, ctx, 'db');
  verifySample(h, ctx);
  const { keys } = keyPool(ctx.n, ctx.poolSize, ctx.seed);
  const mask = ctx.poolSize - 1;
  let missing = 0;
  for (let j = 0; j < keys.length; j++) if (h.get(keys[j]) === undefined) missing++; // untimed warm pass
  if (missing) throw new Error(`W4: ${missing} of ${keys.length} pool keys not found`);
  let i = 0;
  const t0 = now();
  const end = t0 + ctx.readMs;
  let t = t0;
  do {
    for (let j = 0; j < 1024; j++, i++) if (h.get(keys[i & mask]) === undefined) missing++;
    t = now();
  } while (t < end);
  await h.close();
  if (missing) throw new Error(`W4: ${missing} gets found nothing`);
  return { getsPerSec: i / ((t - t0) / 1000), gets: i };
}

/** W5: one full ordered scan. */
export async function W5(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) {
  const { h } = await openCopy(a, ctx, 'db');
  const t0 = now();
  const count = await h.scan();
  const ms = now() - t0;
  await h.close();
  if (count !== ctx.n) throw new Error(`W5: scan saw ${count} entries, expected ${ctx.n}`);
  return { entriesPerSec: count / (ms / 1000), ms };
}

/**
 * A writer of durable single-put transactions that yields to the event loop after each commit
 * (so that an in-process backup can make progress); records each commit's completion time.
 * Keys are drawn from [from, from + ctx.n): the data set's keys (updates, W6) or new ones (R2).
 * @param {Handle} h @param {Ctx} ctx @param {number} from
 */
function startWriter(h, ctx, from) {
  const times = new Float64Array(1 << 22);
  let count = 0;
  let running = true;
  const rng = new Rng(ctx.seed ^ 0x6666);
  const done = (async () => {
    while (running) {
      const i = from + rng.below(ctx.n);
      const r = h.putSync1(keyOf(i), freshValue(i, ctx.seed, count));
      if (r) await r;
      if (count < times.length) times[count] = now();
      count++;
      await yieldMacrotask();
    }
  })();
  return {
    /** commits completed in [from, to) */
    between: (/** @type {number} */ from, /** @type {number} */ to) => {
      let c = 0;
      for (let j = 0, m = Math.min(count, times.length); j < m; j++) if (times[j] >= from && times[j] < to) c++;
      return c;
    },
    stop: async () => {
      running = false;
      await done;
    },
  };
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * W6: online backup of the W1 database while a writer keeps committing, and `cp -r` of the same
 * files. The writer runs alone for ctx.w6Ms, then through back-to-back backups (each into a fresh
 * directory, fsynced and removed afterwards) until ctx.w6Ms of backup time has passed (at least
 * one backup, at most 20), then alone again for ctx.w6Ms. Backup MB/s = bytes copied / time in
 * backup calls; the writer's rate during backups counts only commits inside those calls.
 */
export async function W6(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) {
  const { dir, h } = await openCopy(a, ctx, 'src');
  const writer = startWriter(h, ctx, 0);
  const a0 = now();
  await sleep(ctx.w6Ms);
  const a1 = now();
  const sourceBytes = treeSize(dir).allocBytes;
  /** @type {Record<string, unknown>} */
  const out = { sourceMB: sourceBytes / MB, method: a.backupMethod };
  if (h.backup) {
    let backups = 0;
    let backupMs = 0;
    let fsyncMs = 0;
    let bytes = 0;
    let during = 0;
    while (backups === 0 || (backupMs < ctx.w6Ms && backups < 20)) {
      const dst = freshDir(path.join(ctx.work, `backup-${backups}`));
      const srcBytes = treeSize(dir).allocBytes;
      const b0 = now();
      await h.backup(dst);
      const b1 = now();
      fsyncTree(dst);
      fsyncMs += now() - b1;
      backupMs += b1 - b0;
      bytes += srcBytes;
      during += writer.between(b0, b1);
      if (backups === 0) out.backupMB = treeSize(dst).allocBytes / MB;
      rmTree(dst);
      backups++;
      await yieldMacrotask();
    }
    out.backups = backups;
    out.backupMBps = bytes / MB / (backupMs / 1000);
    out.backupMBpsInclFsync = bytes / MB / ((backupMs + fsyncMs) / 1000);
    out.writerDuringCommits = during;
    out.writerDuring = during / (backupMs / 1000);
  } else {
    out.backupNa = a.backupMethod;
  }
  const c0 = now();
  await sleep(ctx.w6Ms);
  const c1 = now();
  await writer.stop();
  out.writerWithout = (writer.between(a0, a1) + writer.between(c0, c1)) / ((a1 - a0 + (c1 - c0)) / 1000);
  if (out.writerDuring !== undefined) out.writerRatio = /** @type {number} */ (out.writerDuring) / /** @type {number} */ (out.writerWithout);
  await h.close();
  // The baseline: cp -r of the (now closed) database files.
  const cpBytes = treeSize(dir).allocBytes;
  const cpDst = path.join(ctx.work, 'cp');
  const t = now();
  cpR(dir, cpDst);
  const cpMs = now() - t;
  fsyncTree(cpDst);
  const cpSyncMs = now() - t;
  out.cpMBps = cpBytes / MB / (cpMs / 1000);
  out.cpMBpsInclFsync = cpBytes / MB / (cpSyncMs / 1000);
  if (out.backupMBps !== undefined) out.backupVsCp = /** @type {number} */ (out.backupMBps) / /** @type {number} */ (out.cpMBps);
  return out;
}

/** Log files by name, for R1's "MB of log" when recover() does not say. @param {string} name */
const isLogFile = (name) => /^log\.\d+$|\.log$|^wal|\.wal$/i.test(name);

/** R1: catastrophic recovery of a copy of the W1 environment; MB of log per second. */
export async function R1(/** @type {Adapter} */ a, /** @type {Ctx} */ ctx) {
  if (!a.recover) throw new NotApplicable('no catastrophic recovery tool');
  const dir = path.join(ctx.work, 'copy');
  copyAndSync(ctx.base, dir);
  const logFiles = treeSize(dir, isLogFile);
  const t0 = now();
  const r = await a.recover(dir);
  const ms = now() - t0;
  const logBytes = (r && typeof r.logBytes === 'number' ? r.logBytes : null) ?? logFiles.bytes;
  if (!logBytes) throw new Error('R1: recover() reported no logBytes and no log files were found (log.N, *.log, wal*)');
  // The recovered copy must open and hold the data.
  const h = await a.open(dir, { cacheBytes: ctx.cacheBytes, durability: 'sync' });
  verifySample(h, ctx);
  await h.close();
  return { logMB: logBytes / MB, recoverMs: ms, MBps: logBytes / MB / (ms / 1000) };
}

/**
 * R2, primary side: opens a copy of the W1 database, (failover mode) hot-backs it up into the
 * standby's directory, then commits durable puts until it is killed.
 * @param {Adapter} a @param {Ctx & { primary: string, standby: string }} ctx @param {(line: string) => void} say
 */
export async function R2primary(a, ctx, say) {
  copyAndSync(ctx.base, ctx.primary);
  const h = await a.open(ctx.primary, { cacheBytes: ctx.cacheBytes, durability: 'sync' });
  if (a.recover) {
    if (!h.backup) throw new NotApplicable('no hot backup (env.hotBackup) to make the standby copy');
    await h.backup(freshDir(ctx.standby));
  }
  startWriter(h, ctx, ctx.n); // new keys: the standby's probe key keeps its loaded value
  say('@@READY');
  await new Promise(() => {}); // the writer keeps committing until the orchestrator kills this process
  return {};
}

/**
 * R2, standby side: waits (already started, engine loaded) for "go" on stdin, sent right after
 * the primary's death; then recovers the copy (failover mode) or reopens the primary's files
 * (restart mode, engines without recovery tools), and serves one read.
 * @param {Adapter} a @param {Ctx & { primary: string, standby: string }} ctx @param {(line: string) => void} say
 */
export async function R2standby(a, ctx, say) {
  await a.probe();
  const probeIdx = ctx.n >> 1;
  const key = keyOf(probeIdx);
  const expected = valueOf(probeIdx, ctx.seed);
  say('@@READY');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  const t0 = now();
  let dir = ctx.primary;
  let recoverMs = null;
  if (a.recover) {
    dir = ctx.standby;
    await a.recover(dir);
    recoverMs = now() - t0;
  }
  const h = await a.open(dir, { cacheBytes: ctx.cacheBytes, durability: 'sync' });
  const t1 = now();
  const v = h.get(key);
  const tEnd = epochMs();
  const t2 = now();
  if (!v || !Buffer.from(v).equals(expected)) throw new Error('R2: the first read after failover returned a wrong value');
  await h.close();
  return {
    tEnd,
    standbyMs: t2 - t0,
    recoverMs,
    openMs: t1 - t0 - (recoverMs ?? 0),
    method: a.recover ? a.r2Method : 'restart: a standby process (engine loaded) reopens the killed primary\'s own files (no failover tools) and serves a get',
  };
}

export { KEY_BYTES };
