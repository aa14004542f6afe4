// Test fixture (env/snapshots.test.ts, F15): the red-team's snapshot_growth scenario, scaled down.
// Run with --expose-gc. Writes a database, leaves one holder in the state MODE asks for, commits
// COMMITS transactions of 5 puts, and prints one JSON line: external memory (external +
// arrayBuffers) before and after the commits, after full garbage collections, and the
// environment's snapshot figures.
//
//   node --expose-gc dist/testing/snapshots.fixture.js <home> <mode> <commits> [snapshotLimit]
//
// Modes: none; held (a read-only transaction kept); and, dropped before the commits: iterator
// (after one next()), snapshot (env.begin({ readOnly: true })), writetxn (env.begin() with one
// put), cursor (after first()), or dropped (all four).

import { Environment } from '../env/environment.js';

const [home, mode, commitsArg, limitArg] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (home === undefined || mode === undefined || gc === undefined) {
  process.stderr.write('usage: node --expose-gc snapshots.fixture.js <home> <mode> <commits> [snapshotLimit]\n');
  process.exit(2);
}
const commits = Number(commitsArg ?? 2000);
const env = await Environment.open(home, {
  create: true,
  cacheSize: 1 << 20,
  durability: 'nosync',
  checkpoint: false,
  ...(limitArg !== undefined ? { snapshotLimit: Number(limitArg) } : {}),
});
const db = await env.openDatabase('d.db', { create: true });
const KEYS = 12000; // about 2.5 MB: a held snapshot can keep up to that much of older versions
await env.transaction((t) => {
  for (let i = 0; i < KEYS; i++) db.put(`k${String(i).padStart(5, '0')}`, 'x'.repeat(200), t);
});

let held: unknown;
if (mode === 'held') held = env.begin({ readOnly: true });
// Each dropped holder is made inside a function: nothing keeps a reference once it returns.
const dropAll = mode === 'dropped';
if (mode === 'iterator' || dropAll) (() => void db.range({})[Symbol.iterator]().next())();
if (mode === 'snapshot' || dropAll) (() => void env.begin({ readOnly: true }))();
if (mode === 'writetxn' || dropAll) (() => void db.put('held', 'x', env.begin()))();
if (mode === 'cursor' || dropAll) (() => void db.cursor().first())();

const settle = async (): Promise<void> => {
  // Finalization callbacks run in a task after the collection that found the holder.
  // Several rounds: buffers' external memory goes back only after the collection that found them.
  for (let i = 0; i < 20; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    if (i >= 4 && (mode === 'none' || mode === 'held' || env.stat().txn.snapshots === 0)) return;
  }
};
const external = (): number => {
  const m = process.memoryUsage();
  return m.external + m.arrayBuffers;
};
await settle();
const before = external();
const snapshotsBefore = env.stat().txn.snapshots;
for (let i = 0; i < commits; i++) {
  await env.transaction((t) => {
    // Scattered over every leaf, so that a held snapshot keeps an older version of each.
    for (let j = 0; j < 5; j++) db.put(`k${String((i * 7919 + j * 4001) % KEYS).padStart(5, '0')}`, `${i}`.repeat(40), t);
  });
}
await settle();
const after = external();
const st = env.stat();
let heldStep = 'none';
if (held !== undefined) {
  try {
    db.get('k00001', held as Parameters<typeof db.get>[1]);
    heldStep = 'ok';
  } catch (e) {
    heldStep = (e as { code?: string }).code ?? String(e);
  }
}
process.stdout.write(
  JSON.stringify({ mode, before, after, growth: after - before, snapshotsBefore, snapshots: st.txn.snapshots, snapshotBytes: st.txn.snapshotBytes, reclaimed: st.txn.reclaimed, tooOld: st.txn.tooOld, heldStep }) + '\n',
);
await env.close();
