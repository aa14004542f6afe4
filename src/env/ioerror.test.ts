// I/O errors (reliability.md §9, issue 4 item 4): ENOSPC, EIO and short writes injected at
// write call 1, 2, 3, … of a standard workload (group commits, a large transaction, log file
// switches, a database create, checkpoints), once transient and once persistent. Expected:
//   - every error the application sees is typed (CairnError);
//   - the environment is then either usable (a new commit works once the fault is gone) or
//     panicked (RUN_RECOVERY), and reopening the crash image recovers it;
//   - no acknowledged commit is lost: the recovered state is the model after a commit prefix
//     containing every acknowledged commit, and the tree verifies;
//   - a failed checkpoint never moves the redo point or makes a needed log removable.
// Also a transient fsync failure at every fsync: the writer must panic rather than retry (I8).
// Seeded: CAIRN_SEED picks the workload; CAIRN_IO_AT=<n> replays one write call.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs, type SimFault } from '../io/sim.js';
import { Environment } from './environment.js';
import { rng, randInt, testSeeds } from '../util/random.js';
import { CairnError } from '../util/errors.js';
import { lsnFile } from '../util/lsn.js';
import { readControl } from './control.js';

// Regression (found by this test, fixed in LogWriter.flushLoop): a failed log *write* inside the
// group-commit flusher rejected the unawaited flushLoop() promise, an unhandled rejection that
// kills the process under Node's default. Replay: CAIRN_IO_AT=2 node --test dist/env/ioerror.test.js
const unhandled: Error[] = [];
process.on('unhandledRejection', (e) => {
  unhandled.push(e as Error);
});

const HOME = '/env';
const k = (i: number) => `key${String(i).padStart(5, '0')}`;
type State = Map<string, string>;

interface Run {
  states: State[];
  acked: number;
  errors: Error[];
  env: Environment | undefined;
}

function same(a: State, b: State): boolean {
  if (a.size !== b.size) return false;
  for (const [key, v] of a) if (b.get(key) !== v) return false;
  return true;
}

/** The workload after setup; `arm` is called once the environment and a.db exist. */
async function workload(vfs: SimVfs, seed: number, arm: () => void): Promise<Run> {
  const r = rng(seed);
  const run: Run = { states: [new Map()], acked: 0, errors: [], env: undefined };
  const model: State = new Map();
  const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 32 * 1024, checkpoint: false, pageSize: 1024 });
  run.env = env;
  const db = await env.openDatabase('a.db', { create: true });
  run.acked = 0;
  arm();
  const commit = async (changes: Array<[string, string | undefined]>, into = db): Promise<void> => {
    const t = env.begin();
    for (const [key, v] of changes) {
      if (v === undefined) into.del(key, t);
      else into.put(key, v, t);
    }
    const p = t.commit();
    if (into === db) {
      for (const [key, v] of changes) {
        if (v === undefined) model.delete(key);
        else model.set(key, v);
      }
    }
    run.states.push(new Map(model));
    const index = run.states.length - 1;
    await p;
    run.acked = Math.max(run.acked, index);
  };
  const checkpoint = async (): Promise<void> => {
    try {
      await env.checkpoint();
    } catch (e) {
      // Recovery starts at the durable control file's redo point: no log from there on may be removable.
      const durable = readControl(vfs.crash({ seed, mode: 'drop' }), HOME)?.redo ?? 0;
      if (env.panicked) await assert.rejects(env.archive({ remove: true }), (x: Error) => x instanceof CairnError, `seed ${seed}: db_archive on a panicked environment`);
      else for (const n of env.removableLogs()) assert.ok(n < lsnFile(durable), `seed ${seed}: a failed checkpoint made log ${n} removable (recovery starts in log ${lsnFile(durable)})`);
      throw e;
    }
  };
  try {
    for (let round = 0; round < 5; round++) {
      const group = Array.from({ length: 1 + randInt(r, 6) }, (_, g) => {
        const changes: Array<[string, string | undefined]> = [];
        for (let j = 0; j < 1 + randInt(r, 4); j++) changes.push([k(randInt(r, 150)), randInt(r, 6) === 0 ? undefined : `${round}.${g}.${j}`.repeat(1 + randInt(r, 40))]);
        return changes;
      });
      await Promise.all(group.map((c) => commit(c)));
      if (round === 1) await commit(Array.from({ length: 4 }, (_, j): [string, string] => [k(300 + j), `big${j}`.repeat(2500)]));
      if (round === 2) await checkpoint();
      if (round === 3) {
        const b = await env.openDatabase('b.db', { create: true });
        await commit([['x', 'y']], b);
        await checkpoint();
      }
    }
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    run.errors.push(e as Error);
  }
  return run;
}

const KINDS: Array<{ name: string; fault: Omit<SimFault, 'op' | 'nth' | 'persistent'> }> = [
  { name: 'ENOSPC', fault: { errno: 'ENOSPC' } },
  { name: 'EIO', fault: { errno: 'EIO' } },
  { name: 'short write', fault: { errno: 'ENOSPC', shortWrite: true } },
];

async function oneCase(seed: number, nth: number, kind: (typeof KINDS)[number], persistent: boolean, op: 'write' | 'sync' = 'write'): Promise<boolean> {
  const where = `seed ${seed}, ${kind.name} ${persistent ? 'persistent' : 'transient'} at ${op} call ${nth} (replay: CAIRN_SEED=${seed} CAIRN_IO_AT=${nth})`;
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  const run = await workload(vfs, seed, () => vfs.inject({ op, nth, persistent, ...kind.fault }));
  const fired = run.errors.length > 0;
  for (const e of run.errors) assert.ok(e instanceof CairnError, `${where}: untyped error ${e.name}: ${e.message}`);
  vfs.clearFaults();
  const env = run.env!;
  if (!env.panicked) {
    // Usable: a new commit goes through now that the fault is gone.
    const db = await env.openDatabase('a.db');
    const model = new Map(run.states[run.states.length - 1]!);
    const p = db.put('probe', 'after the fault');
    model.set('probe', 'after the fault');
    run.states.push(model);
    try {
      await p;
    } catch (e) {
      assert.fail(`${where}: the environment is neither panicked nor usable: ${(e as Error).message}`);
    }
    run.acked = run.states.length - 1;
    assert.equal(db.get('probe')?.toString(), 'after the fault', where);
  } else {
    await assert.rejects(env.openDatabase('a.db').then((db) => db.put('probe', 'x')), (e: Error) => e instanceof CairnError, `${where}: a panicked environment must refuse work with a typed error`);
  }
  const image = vfs.crash({ seed: seed * 7919 + nth, mode: 'drop' });
  try {
    await env.close();
  } catch (e) {
    assert.ok(e instanceof CairnError, `${where}: close threw an untyped error: ${(e as Error).message}`);
  }
  const env2 = await Environment.open(HOME, { vfs: image, checkpoint: false });
  try {
    const db = await env2.openDatabase('a.db');
    const got: State = new Map([...db.range()].map(([a, b]) => [a.toString(), b.toString()]));
    assert.deepEqual(db.verify(), [], `${where}: the recovered tree does not verify`);
    const matches: number[] = [];
    for (let i = 0; i < run.states.length; i++) if (same(run.states[i]!, got)) matches.push(i);
    assert.ok(matches.length > 0, `${where}: the recovered state matches no commit prefix`);
    assert.ok(matches[matches.length - 1]! >= run.acked, `${where}: acknowledged commits lost (acked ${run.acked}, prefixes ${matches})`);
  } finally {
    await env2.close();
  }
  return fired;
}

const nightly = process.env.CAIRN_NIGHTLY === '1';
for (const seed of testSeeds(nightly ? 20 : 1)) {
  test(`ENOSPC, EIO and short writes at every write call of the workload, transient and persistent, seed ${seed}`, async () => {
    const dry = new SimVfs();
    dry.mkdir(HOME, { recursive: true });
    dry.syncDir('/');
    let base = 0;
    await workload(dry, seed, () => (base = dry.opCount('write')));
    const total = dry.opCount('write') - base;
    assert.ok(total > 20, `seed ${seed}: only ${total} write calls`);
    const only = process.env.CAIRN_IO_AT ? [Number(process.env.CAIRN_IO_AT)] : Array.from({ length: total }, (_, i) => i + 1);
    let cases = 0;
    let fired = 0;
    for (const nth of only) {
      for (const kind of KINDS) {
        for (const persistent of [false, true]) {
          cases++;
          if (await oneCase(seed, nth, kind, persistent)) fired++;
        }
      }
    }
    process.stdout.write(`I/O error cases: ${cases} (${total} write calls × 3 kinds × transient/persistent), ${fired} surfaced an error\n`);
  });

  test(`a transient fsync failure at every fsync: the log is not retried (I8), seed ${seed}`, async () => {
    const dry = new SimVfs();
    dry.mkdir(HOME, { recursive: true });
    dry.syncDir('/');
    let base = 0;
    await workload(dry, seed, () => (base = dry.opCount('sync')));
    const total = dry.opCount('sync') - base;
    for (let nth = 1; nth <= total; nth++) await oneCase(seed, nth, KINDS[1]!, false, 'sync');
  });
}

test('no unhandled promise rejection when a log write fails during group commit', async () => {
  await new Promise((r) => setImmediate(r));
  assert.equal(unhandled.length, 0, `${unhandled.length} unhandled rejections, first: ${unhandled[0]?.message}`);
});
