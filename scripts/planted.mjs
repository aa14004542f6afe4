#!/usr/bin/env node
// The planted-bug yardstick (issue 4 item 8; docs/TESTING.md). For each bug planted in the
// engine (src/util/plant.ts, switched on by CAIRN_PLANT=<name>), runs the test files that
// should catch it with CAIRN_SEED=1, 2, … up to 10, and stops at the first failing run
// (caught). Exits 1 when any bug is not caught within 10 seeds: the suite has a hole.
//
//   npm run test:planted                    # every plant (builds first)
//   node scripts/planted.mjs ckpt-skip-dirty # some plants
//   PLANT_SEEDS=3 node scripts/planted.mjs  # fewer seeds
//
// src/util/plant.test.ts checks that every plant in src/util/plant.ts is listed here.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** plant name → the test files (under dist/) that must catch it. */
export const CATCHERS = {
  'log-skip-fsync': ['env/crash.test.js'],
  'page-ignore-checksum': ['env/bitflip.test.js', 'btree/corruption.test.js', 'env/corruption.test.js'],
  'log-ignore-checksum': ['log/log.test.js', 'env/bitflip.test.js', 'env/corruption.test.js'],
  'ckpt-skip-dirty': ['env/crash.test.js', 'env/model.test.js', 'env/writeback.test.js'],
  'ckpt-late-redo': ['env/plants.test.js'],
  'archive-needed-log': ['env/plants.test.js', 'backup/interleave.test.js'],
  'backup-logs-first': ['env/plants.test.js', 'backup/interleave.test.js'],
  'log-corrupt-as-end': ['log/log.test.js', 'env/corruption.test.js'],
  'fsync-retry': ['env/crash.test.js', 'log/log.test.js'],
  'log-skip-dir-fsync': ['env/crash.test.js', 'log/prepare.test.js'],
  'drop-page-image': ['env/fuzzycopy.test.js'],
  'page-ignore-stale': ['env/stale.test.js', 'env/corruption.test.js'],
  'ranges-skip-mark': ['btree/ranges.test.js', 'env/crash.test.js'],
  'append-cache-split': ['btree/appendcache.test.js'],
  'wb-skip-log-flush': ['env/writeback.test.js'],
  'arena-ignore-snapshots': ['page/arena.test.js', 'env/smallcache.test.js'],
};

function run(plant, files, seed) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--test', '--test-reporter=dot', ...files.map((f) => path.join(root, 'dist', f))], {
      cwd: root,
      env: { ...process.env, CAIRN_PLANT: plant, CAIRN_SEED: String(seed) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out, ms: Date.now() - t0 }));
  });
}

function firstFailure(out) {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => /AssertionError|Error \[|error:|Error:/.test(l));
  return (i >= 0 ? lines[i] : lines.find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
}

async function main() {
  const wanted = process.argv.slice(2);
  for (const w of wanted) if (!(w in CATCHERS)) throw new Error(`unknown plant ${w}`);
  const seeds = Number(process.env.PLANT_SEEDS ?? 10);
  const names = wanted.length > 0 ? wanted : Object.keys(CATCHERS);
  // The unplanted suite must pass first, or "caught" means nothing.
  const all = [...new Set(names.flatMap((n) => CATCHERS[n]))];
  const clean = await run('', all, 1);
  if (clean.code !== 0) {
    process.stdout.write(`the catching tests fail without any plant (CAIRN_SEED=1):\n${clean.out}\n`);
    process.exit(2);
  }
  const results = [];
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      let caught;
      for (let seed = 1; seed <= seeds && caught === undefined; seed++) {
        const r = await run(name, CATCHERS[name], seed);
        if (r.code !== 0) caught = { seed, why: firstFailure(r.out), ms: r.ms };
      }
      const line = caught
        ? `caught      ${name.padEnd(22)} seed ${caught.seed} (${CATCHERS[name].join(', ')}): ${caught.why}`
        : `NOT CAUGHT  ${name.padEnd(22)} within ${seeds} seeds (${CATCHERS[name].join(', ')})`;
      process.stdout.write(line + '\n');
      results.push({ name, caught });
    }
  };
  await Promise.all([worker(), worker()]);
  const missed = results.filter((r) => !r.caught);
  process.stdout.write(`\n${results.length - missed.length} of ${results.length} planted bugs caught${missed.length ? `; not caught: ${missed.map((r) => r.name).join(', ')}` : ''}\n`);
  process.exit(missed.length > 0 ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
