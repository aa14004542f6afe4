#!/usr/bin/env node
// The planted-bug yardstick (docs/TESTING.md "Planted bugs"). The shipped engine holds no planted
// bug and no switch for one: each plant is a marker comment on the engine line it breaks,
//
//     this.handle.sync(); // PLANT(log-skip-fsync):
//     // PLANT(ckpt-late-redo): redo = log.end;
//
// meaning "in the planted build, this line's code is replaced by the text after the colon" (empty:
// the line's code is dropped; a comment-only line: the text is inserted). For each plant this
// script copies the repository's sources to a temporary directory, rewrites that plant's marker
// lines, builds the copy, and runs the test files that should catch the bug there with
// CAIRN_SEED=1, 2, … up to 10, stopping at the first failing run (caught). Exits 1 when any bug
// is not caught within 10 seeds: the suite has a hole.
//
//   npm run test:planted                    # every plant (builds first)
//   node scripts/planted.mjs ckpt-skip-dirty # some plants
//   PLANT_SEEDS=3 node scripts/planted.mjs  # fewer seeds
//
// src/plants.test.ts checks that every plant here has markers in src/ and every marker a plant.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** plant name → what it breaks and the test files (under dist/) that must catch it. */
export const PLANTS = {
  'log-skip-fsync': { breaks: 'log writer: group commit acknowledges without the fdatasync', catchers: ['env/crash.test.js'] },
  'page-ignore-checksum': { breaks: 'page check: a page checksum mismatch is ignored', catchers: ['env/bitflip.test.js', 'btree/corruption.test.js', 'env/corruption.test.js'] },
  'log-ignore-checksum': { breaks: 'log reader: a log record checksum mismatch is ignored', catchers: ['log/log.test.js', 'env/bitflip.test.js', 'env/corruption.test.js'] },
  'ckpt-skip-dirty': { breaks: 'checkpoint: the last dirty page is not written, yet marked clean', catchers: ['env/crash.test.js', 'env/model.test.js', 'env/writeback.test.js'] },
  'ckpt-late-redo': { breaks: 'checkpoint: the redo point is the log end after writing the pages', catchers: ['env/plants.test.js'] },
  'archive-needed-log': { breaks: "log archival: the redo point's own log file is listed as removable", catchers: ['env/plants.test.js', 'backup/interleave.test.js'] },
  'backup-logs-first': { breaks: 'hot backup: the log is copied before the data files', catchers: ['env/plants.test.js', 'backup/interleave.test.js'] },
  'log-corrupt-as-end': { breaks: 'log reader: a bad record followed by valid ones is taken as the end of the log', catchers: ['log/log.test.js', 'env/corruption.test.js'] },
  'fsync-retry': { breaks: 'log writer: a failed fsync is retried and the writer carries on', catchers: ['env/crash.test.js', 'log/log.test.js'] },
  'log-skip-dir-fsync': { breaks: 'log writer: no directory fsync after creating a log file', catchers: ['env/crash.test.js', 'log/prepare.test.js'] },
  'drop-page-image': { breaks: 'pager: never a full page image after a checkpoint', catchers: ['env/fuzzycopy.test.js'] },
  'page-ignore-stale': { breaks: 'pager: a page older (or newer) than the page LSN map says is accepted', catchers: ['env/stale.test.js', 'env/corruption.test.js'] },
  'ranges-skip-mark': { breaks: 'B-tree insert: a new leaf cell is not reported as changed, so the page delta misses its bytes', catchers: ['btree/ranges.test.js', 'env/crash.test.js'] },
  'append-cache-split': { breaks: 'B-tree: a leaf split does not invalidate the cached append path', catchers: ['btree/appendcache.test.js'] },
  'wb-skip-log-flush': { breaks: 'write-back: pages are written without making the log durable through them first (I1)', catchers: ['env/writeback.test.js'] },
  'arena-ignore-snapshots': { breaks: 'pager: page buffers are recycled while snapshots are open', catchers: ['page/arena.test.js', 'env/smallcache.test.js'] },
};

/** `<indent><code> // PLANT(<name>):<replacement>` — the code part may be empty. */
export const MARKER = /^(\s*)(.*?)\s*\/\/ PLANT\(([a-z0-9-]+)\):(.*)$/;

/** Every .ts file under `dir`, recursively. */
export function sourceFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The source text with plant `name` applied; `count` is how many lines it rewrote. */
export function applyPlant(text, name) {
  let count = 0;
  const lines = text.split('\n').map((line) => {
    const m = MARKER.exec(line);
    if (m === null || m[3] !== name) return line;
    count++;
    return `${m[1]}${m[4].trim()}`;
  });
  return { text: lines.join('\n'), count };
}

function sh(cmd, args, cwd, env = process.env) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out, ms: Date.now() - t0 }));
  });
}

/** A copy of the repository (sources, not dist/) with plant `name` applied and built; '' is the clean build. */
async function plantedBuild(name, tmp) {
  const dir = path.join(tmp, name === '' ? 'clean' : name);
  fs.mkdirSync(dir);
  for (const e of ['src', 'bin', 'testdata', 'scripts', 'docs', 'package.json', 'tsconfig.json', 'README.md']) {
    if (fs.existsSync(path.join(root, e))) fs.cpSync(path.join(root, e), path.join(dir, e), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  let rewritten = 0;
  if (name !== '') {
    for (const f of sourceFiles(path.join(dir, 'src'))) {
      if (f.endsWith('.test.ts') || f.includes(`${path.sep}testing${path.sep}`)) continue; // markers live in the engine only
      const { text, count } = applyPlant(fs.readFileSync(f, 'utf8'), name);
      if (count > 0) fs.writeFileSync(f, text);
      rewritten += count;
    }
    if (rewritten === 0) throw new Error(`plant ${name}: no // PLANT(${name}): marker in src/`);
  }
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = await sh(process.execPath, [tsc, '-p', 'tsconfig.json', '--sourceMap', 'false'], dir);
  if (r.code !== 0) throw new Error(`plant ${name || '(none)'}: the planted build does not compile:\n${r.out}`);
  return dir;
}

function runTests(dir, files, seed) {
  return sh(process.execPath, ['--test', '--test-reporter=dot', ...files.map((f) => path.join(dir, 'dist', f))], dir, { ...process.env, CAIRN_SEED: String(seed) });
}

function firstFailure(out) {
  const lines = out.split('\n');
  const i = lines.findIndex((l) => /AssertionError|Error \[|error:|Error:/.test(l));
  return (i >= 0 ? lines[i] : lines.find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
}

async function main() {
  const wanted = process.argv.slice(2);
  for (const w of wanted) if (!(w in PLANTS)) throw new Error(`unknown plant ${w} (known: ${Object.keys(PLANTS).join(', ')})`);
  const seeds = Number(process.env.PLANT_SEEDS ?? 10);
  const names = wanted.length > 0 ? wanted : Object.keys(PLANTS);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-planted-'));
  try {
    // The unplanted suite must pass first, or "caught" means nothing.
    const all = [...new Set(names.flatMap((n) => PLANTS[n].catchers))];
    const clean = await runTests(await plantedBuild('', tmp), all, 1);
    if (clean.code !== 0) {
      process.stdout.write(`the catching tests fail without any plant (CAIRN_SEED=1):\n${clean.out}\n`);
      process.exit(2);
    }
    const results = [];
    const queue = [...names];
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        let dir;
        try {
          dir = await plantedBuild(name, tmp);
        } catch (e) {
          process.stdout.write(`BROKEN      ${name.padEnd(22)} ${e.message}\n`);
          results.push({ name, caught: undefined });
          continue;
        }
        const { catchers } = PLANTS[name];
        let caught;
        for (let seed = 1; seed <= seeds && caught === undefined; seed++) {
          const r = await runTests(dir, catchers, seed);
          if (r.code !== 0) caught = { seed, why: firstFailure(r.out) };
        }
        process.stdout.write(caught
          ? `caught      ${name.padEnd(22)} seed ${caught.seed} (${catchers.join(', ')}): ${caught.why}\n`
          : `NOT CAUGHT  ${name.padEnd(22)} within ${seeds} seeds (${catchers.join(', ')})\n`);
        results.push({ name, caught });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    };
    await Promise.all([worker(), worker()]);
    const missed = results.filter((r) => !r.caught);
    process.stdout.write(`\n${results.length - missed.length} of ${results.length} planted bugs caught${missed.length ? `; not caught: ${missed.map((r) => r.name).join(', ')}` : ''}\n`);
    process.exitCode = missed.length > 0 ? 1 : 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
