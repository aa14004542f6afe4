// Crash-point enumeration (reliability.md §9.1): a standard workload is crashed at every fsync
// in turn (the crash image keeps, drops or tears each unsynced write at random), recovered,
// and compared with the model. Oracle: the recovered state equals the model after some
// prefix of the commits, and that prefix contains every acknowledged commit (I2, I3).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { rng, randInt } from '../util/random.js';
import { CairnError } from '../util/errors.js';

const HOME = '/env';
const k = (i: number) => `key${String(i).padStart(5, '0')}`;

class Crash extends Error {}

type State = Map<string, string>;

interface Run {
  states: State[]; // model after each commit, in commit order (states[0]: before any)
  acked: number; // highest commit (index in states) acknowledged before the crash
  image: SimVfs | undefined;
  syncs: number;
}

/**
 * The workload: group commits, a large transaction, checkpoints, log switches, file create/remove,
 * and lone committers, some 'write-nosync' followed by a 'sync' one (whose short path, flushNow,
 * must make the relaxed bytes before it durable too: I2 for the sync commit needs them).
 */
async function workload(vfs: SimVfs, seed: number, crashAt: number, faults = false): Promise<Run> {
  const r = rng(seed);
  const run: Run = { states: [new Map()], acked: 0, image: undefined, syncs: 0 };
  const base = vfs.syncCount;
  const outer = vfs.onSync;
  vfs.onSync = (n, path) => {
    outer?.(n, path);
    if (process.env.CAIRN_DEBUG) console.error(`sync ${n - base} ${path} acked=${run.acked} commits=${run.states.length - 1}`);
    if (n - base === crashAt) {
      run.image = vfs.crash({ seed: seed * 1000 + n, mode: 'random' });
      throw new Crash(`crash at sync ${n}`);
    }
  };
  const model: State = new Map();
  const committed = (changes: Array<[string, string | undefined]>) => {
    for (const [key, v] of changes) {
      if (v === undefined) model.delete(key);
      else model.set(key, v);
    }
    run.states.push(new Map(model));
  };
  try {
    const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 32 * 1024, checkpoint: false, pageSize: 1024 });
    const db = await env.openDatabase('a.db', { create: true });
    run.states.push(new Map(model)); // the create is a commit too
    run.acked = 1;
    // async, so that a synchronous throw (a panicked environment) becomes this promise's rejection
    const one = async (i: number, durability: 'sync' | 'write-nosync' = 'sync'): Promise<void> => {
      const t = env.begin({ durability });
      const changes: Array<[string, string | undefined]> = [];
      for (let j = 0; j < 1 + randInt(r, 4); j++) {
        const key = k(randInt(r, 200));
        const v = randInt(r, 6) === 0 ? undefined : `${i}.${j}`.repeat(1 + randInt(r, 30));
        if (v === undefined) db.del(key, t);
        else db.put(key, v, t);
        changes.push([key, v]);
      }
      const p = t.commit();
      committed(changes); // installed synchronously inside commit(): commit order
      const index = run.states.length - 1;
      // A transaction that changed nothing resolves at once, ahead of earlier commits: it
      // says nothing about durability, so only commits that changed the state count.
      const changed = !isDeepEqual(run.states[index]!, run.states[index - 1]!);
      await p;
      // A write-nosync commit is not acknowledged against a power loss; a later sync one covers it.
      if (changed && durability === 'sync') run.acked = Math.max(run.acked, index);
    };
    let i = 0;
    for (let round = 0; round < 6; round++) {
      await Promise.all(Array.from({ length: 1 + randInt(r, 8) }, () => one(i++)));
      // Lone committers: relaxed commits handed to the OS, then a sync one on the short path.
      for (let j = randInt(r, 3); j > 0; j--) await one(i++, 'write-nosync');
      await one(i++);
      if (round === 2) {
        // A large transaction with overflow values.
        const t = env.begin();
        const changes: Array<[string, string | undefined]> = [];
        for (let j = 0; j < 5; j++) {
          const key = k(500 + j);
          const v = `big${j}`.repeat(3000);
          db.put(key, v, t);
          changes.push([key, v]);
        }
        const p = t.commit();
        committed(changes);
        await p;
        run.acked = run.states.length - 1;
      }
      if (round === 3) {
        await env.checkpoint();
        const other = await env.openDatabase('b.db', { create: true });
        run.states.push(new Map(model));
        run.acked = run.states.length - 1;
        await other.put('x', 'y');
        run.states.push(new Map(model));
        run.acked = run.states.length - 1;
        await env.removeDatabase('b.db');
        run.states.push(new Map(model));
        run.acked = run.states.length - 1;
      }
    }
    await env.close();
  } catch (e) {
    const expected = faults ? e instanceof CairnError : e instanceof Crash || (e instanceof Error && e.cause instanceof Crash) || String(e).includes('crash at sync');
    if (!expected) throw e;
  } finally {
    run.syncs = vfs.syncCount - base;
    vfs.onSync = undefined;
  }
  return run;
}

async function check(seed: number, crashAt: number): Promise<void> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/'); // the home exists durably before the workload starts
  const run = await workload(vfs, seed, crashAt);
  const image = run.image;
  assert.ok(image, `seed ${seed} crash ${crashAt}: the crash point was not reached`);
  const where = `seed ${seed}, crash at fsync ${crashAt} (replay: CAIRN_SEED=${seed} CAIRN_CRASH_AT=${crashAt})`;
  if (process.env.CAIRN_DEBUG) {
    const copy = SimVfs.fromFiles(image.snapshotFiles());
    const { LogReader } = await import('../log/reader.js');
    const { formatRecord } = await import('../log/records.js');
    const rd = new LogReader(copy, HOME);
    try {
      for (const raw of rd.records()) {
        const rec = rd.decode(raw);
        if (rec.type === 'commit' || rec.type === 'checkpoint') console.error(formatRecord(raw.lsn, rec));
      }
    } catch (e) {
      console.error('read error', e);
    }
    console.error('end', rd.end);
  }
  let env: Environment;
  try {
    env = await Environment.open(HOME, { vfs: image, checkpoint: false });
  } catch (e) {
    // Crashed before the environment's creation became durable: nothing was acknowledged.
    assert.equal(run.acked, 0, `${where}: open after crash failed: ${(e as Error).message}`);
    return;
  }
  let got: State;
  try {
    const db = await env.openDatabase('a.db');
    got = new Map([...db.range()].map(([a, b]) => [a.toString(), b.toString()]));
    assert.deepEqual(db.verify(), [], `${where}: the recovered tree does not verify`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(run.acked <= 1, `${where}: a.db missing after ${run.acked} acknowledged commits: ${(e as Error).message}`);
    await env.close();
    return;
  }
  await env.close();
  const matches: number[] = [];
  for (let p = 0; p < run.states.length; p++) if (isDeepEqual(run.states[p]!, got)) matches.push(p);
  assert.ok(matches.length > 0, `${where}: recovered state matches no commit prefix`);
  assert.ok(matches[matches.length - 1]! >= run.acked, `${where}: recovered prefix ${matches} lost acknowledged commits (${run.acked} acknowledged)`);
}

function isDeepEqual(a: State, b: State): boolean {
  if (a.size !== b.size) return false;
  for (const [key, v] of a) if (b.get(key) !== v) return false;
  return true;
}

const nightly = process.env.CAIRN_NIGHTLY === '1';
const seedCount = nightly ? 1500 : 60; // about 35 fsyncs each (a lone committer's commits made in one turn share one): over 2,000 crash states per run
const seeds = process.env.CAIRN_SEED ? [Number(process.env.CAIRN_SEED)] : Array.from({ length: seedCount }, (_, i) => i + 1);

test(`crash at every fsync of the standard workload, ${seeds.length} seeds`, async () => {
  let states = 0;
  for (const seed of seeds) {
    const dry = new SimVfs();
    dry.mkdir(HOME, { recursive: true });
    dry.syncDir('/');
    const total = (await workload(dry, seed, -1)).syncs;
    assert.ok(total > 20, `workload made only ${total} fsyncs`);
    const points = process.env.CAIRN_CRASH_AT ? [Number(process.env.CAIRN_CRASH_AT)] : Array.from({ length: total }, (_, i) => i + 1);
    for (const n of points) {
      await check(seed, n);
      states++;
    }
  }
  if (!process.env.CAIRN_SEED) assert.ok(states >= (nightly ? 50_000 : 2_000), `only ${states} crash states`);
  process.stdout.write(`crash states checked: ${states}\n`);
});

test('a failed fsync at each call site panics; reopening recovers every acknowledged commit (I8)', async () => {
  const dry = new SimVfs();
  dry.mkdir(HOME, { recursive: true });
  dry.syncDir('/');
  const total = (await workload(dry, 7, -1)).syncs;
  for (let n = 1; n <= total; n++) {
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    vfs.syncDir('/');
    const base = vfs.syncCount;
    let failedAt = '';
    let run: Run | undefined;
    // Fail sync n (and, persistently, every later one): the environment must stop.
    const hook = (m: number, p: string) => {
      if (m - base === n) {
        failedAt = p;
        vfs.inject({ op: 'sync', errno: 'EIO', persistent: true });
        vfs.inject({ op: 'syncDir', errno: 'EIO', persistent: true });
      }
    };
    vfs.onSync = hook;
    try {
      run = await workloadWithFaults(vfs, 7);
    } finally {
      vfs.clearFaults();
    }
    const where = `fsync ${n} (${failedAt})`;
    const image = vfs.crash({ seed: n, mode: 'drop' });
    let env: Environment;
    try {
      env = await Environment.open(HOME, { vfs: image, checkpoint: false });
    } catch (e) {
      assert.ok(run.acked === 0, `${where}: reopen failed after ${run.acked} acknowledged: ${(e as Error).message}`);
      continue;
    }
    try {
      const db = await env.openDatabase('a.db');
      const got = new Map([...db.range()].map(([a, b]) => [a.toString(), b.toString()]));
      const matches: number[] = [];
      for (let p = 0; p < run.states.length; p++) if (isDeepEqual(run.states[p]!, got)) matches.push(p);
      assert.ok(matches.length > 0 && matches[matches.length - 1]! >= run.acked, `${where}: acknowledged commits lost (acked ${run.acked}, prefixes ${matches})`);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(run.acked <= 1, `${where}: ${(e as Error).message}`);
    } finally {
      await env.close();
    }
  }
});

/** The workload, run until a fault stops it (typed errors expected); returns what was acknowledged. */
async function workloadWithFaults(vfs: SimVfs, seed: number): Promise<Run> {
  return workload(vfs, seed, -1, true);
}
