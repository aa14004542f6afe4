#!/usr/bin/env node
// cairn benchmark harness (issue 6): runs every workload on cairn and its peers in one
// invocation, engines interleaved, each run in a fresh child process (bench/worker.mjs), and
// prints per-workload tables, the cairn/peer ratios and the issue's targets.
//
//   npm run bench                       # full: 1,000,000 entries, 3 runs
//   npm run bench -- --quick            # ~1 minute: 100,000 entries, shorter timings
//   node bench/run.mjs --only W2,W4 --engines cairn,lmdb --runs 5 --json out.json
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, minMax, cell, fmt, table } from './lib/stats.mjs';
import { machineInfo } from './lib/machine.mjs';
import { epochMs } from './lib/fsutil.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(HERE, 'worker.mjs');
const ALL_ENGINES = ['cairn', 'lmdb', 'classic-level', 'better-sqlite3'];
const PEERS = ALL_ENGINES.slice(1);
const ALL_WORKLOADS = ['M', 'W1', 'W1r', 'W2', 'W3', 'W4', 'W5', 'W6', 'R1', 'R2'];
const NEEDS_BASE = new Set(['W4', 'W5', 'W6', 'R1', 'R2']);

// ---------------------------------------------------------------- options

const USAGE = `usage: node bench/run.mjs [options]   (npm run bench -- [options])
  --quick             ~1 minute: 100,000 entries, 2 runs, shorter timings
  --only W1,W2,...    workloads among ${ALL_WORKLOADS.join(',')} (M = machine limits)
  --engines a,b       among ${ALL_ENGINES.join(',')}
  --runs N            repetitions of each workload per engine (default 3; quick 2)
  --n N               entries (default 1000000; quick 100000)
  --seed N            data seed (default 42)
  --json FILE         results file (default bench/results/latest.json; a .md twin is written beside it)
  --tmpdir DIR        where data directories go (default os.tmpdir())`;

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {Record<string, string | boolean>} */
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    const [k, inline] = a.slice(2).split('=', 2);
    if (k === 'quick') o.quick = true;
    else if (['only', 'engines', 'runs', 'n', 'seed', 'json', 'tmpdir'].includes(k)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${k} needs a value`);
      o[k] = v;
    } else throw new Error(`unknown option --${k}\n${USAGE}`);
  }
  return o;
}

const args = parseArgs(process.argv.slice(2));
const quick = Boolean(args.quick);
/** @param {string | boolean | undefined} v @param {string[]} allowed @param {string} what */
const list = (v, allowed, what) => {
  if (typeof v !== 'string') return allowed;
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const x of xs) if (!allowed.includes(x)) throw new Error(`unknown ${what} ${x}; choose among ${allowed.join(',')}`);
  return allowed.filter((x) => xs.includes(x));
};
const workloadsWanted = list(args.only, ALL_WORKLOADS, 'workload');
const enginesWanted = list(args.engines, ALL_ENGINES, 'engine');
const runs = Number(args.runs ?? (quick ? 2 : 3));
const n = Number(args.n ?? (quick ? 100_000 : 1_000_000));
const seed = Number(args.seed ?? 42);
const jsonPath = path.resolve(typeof args.json === 'string' ? args.json : path.join(HERE, 'results', 'latest.json'));
const tmpBase = typeof args.tmpdir === 'string' ? path.resolve(args.tmpdir) : os.tmpdir();
if (!(runs >= 1 && n >= 1000)) throw new Error('--runs must be >= 1 and --n >= 1000');

/** The context every worker gets (plus its own work dir and the engine's base dir). */
const common = {
  n,
  seed,
  batch: 1000,
  cacheBytes: 64 << 20,
  commitMs: quick ? 1000 : 3000,
  writers: 64,
  readMs: quick ? 500 : 2000,
  poolSize: quick ? 65536 : 262144,
  w6Ms: quick ? 300 : 1000,
  fsyncIters: quick ? 500 : 2000,
  bwBytes: (quick ? 64 : 256) << 20,
};
const R2_WRITE_MS = quick ? 200 : 500;
const CHILD_TIMEOUT_MS = (quick ? 3 : 15) * 60_000;

// ---------------------------------------------------------------- child processes

const root = fs.mkdtempSync(path.join(tmpBase, 'cairn-bench-'));
/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
let workSeq = 0;

function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true, maxRetries: 5 });
}
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

/**
 * Starts a worker; `lines` receives every stdout line. Resolves with the "@@RESULT" object.
 * @param {string} engine @param {string} workload @param {object} ctx
 * @param {(line: string, child: import('node:child_process').ChildProcess) => void} [onLine]
 */
function startWorker(engine, workload, ctx, onLine) {
  const child = spawn(process.execPath, [WORKER, engine, workload, JSON.stringify(ctx)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  /** @type {Record<string, any> | null} */
  let result = null;
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  readline.createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (line) => {
    if (line.startsWith('@@RESULT ')) result = JSON.parse(line.slice(9));
    else onLine?.(line, child);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  /** @type {Promise<Record<string, any>>} */
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (result) resolve(result);
      else resolve({ error: `worker exited (code ${code}, signal ${signal}) without a result${signal === 'SIGKILL' ? ' (timeout?)' : ''}\n${stderr.trim()}` });
    });
  });
  return { child, done };
}

function newWorkDir() {
  const dir = path.join(root, `run-${++workSeq}`);
  fs.mkdirSync(dir);
  return dir;
}

/** @param {string} engine */
const baseDir = (engine) => path.join(root, `base-${engine}`);

/** @param {string} engine @param {string} workload */
async function runOne(engine, workload) {
  // Flush whatever the previous run (or its clean-up) left dirty, so that it does not land in this one.
  spawnSync('sync', { stdio: 'ignore' });
  const work = newWorkDir();
  try {
    if (workload === 'R2') return await runR2(engine, work);
    const { done } = startWorker(engine, workload, { ...common, work, base: baseDir(engine) });
    return await done;
  } finally {
    fs.rmSync(work, { recursive: true, force: true, maxRetries: 5 });
  }
}

/**
 * R2: a primary process writes to a copy of the W1 database (in failover mode after taking a
 * hot backup for the standby); a standby process, started beforehand with the engine loaded,
 * waits. The primary is SIGKILLed; the time runs from the kill to the standby's first read.
 * @param {string} engine @param {string} work
 */
async function runR2(engine, work) {
  const ctx = { ...common, work, base: baseDir(engine), primary: path.join(work, 'primary'), standby: path.join(work, 'standby') };
  /** @type {(v?: unknown) => void} */
  let primaryReady = () => {};
  /** @type {(v?: unknown) => void} */
  let standbyReady = () => {};
  const pReady = new Promise((r) => (primaryReady = r));
  const sReady = new Promise((r) => (standbyReady = r));
  const primary = startWorker(engine, 'R2primary', ctx, (l) => l === '@@READY' && primaryReady());
  const standby = startWorker(engine, 'R2standby', ctx, (l) => l === '@@READY' && standbyReady());
  const first = await Promise.race([
    Promise.all([pReady, sReady]).then(() => null),
    primary.done.then((r) => ({ who: 'primary', r })),
    standby.done.then((r) => ({ who: 'standby', r })),
  ]);
  if (first) {
    primary.child.kill('SIGKILL');
    standby.child.kill('SIGKILL');
    await Promise.all([primary.done, standby.done]);
    return first.r;
  }
  await new Promise((r) => setTimeout(r, R2_WRITE_MS));
  if (primary.child.exitCode !== null || primary.child.signalCode !== null) {
    standby.child.kill('SIGKILL');
    await standby.done;
    const r = await primary.done;
    return r.error || r.na ? r : { error: 'R2: the primary exited before it was killed' };
  }
  const exited = new Promise((r) => primary.child.once('exit', r));
  const tKill = epochMs();
  primary.child.kill('SIGKILL');
  await exited;
  standby.child.stdin?.write('go\n');
  const r = await standby.done;
  await primary.done;
  if (typeof r.tEnd === 'number') r.failoverMs = r.tEnd - tKill;
  return r;
}

// ---------------------------------------------------------------- what to print

/**
 * @typedef {{ key: string, label: string, better?: 'higher' | 'lower' }} Metric
 * @type {Record<string, { title: string, metrics: Metric[] }>}
 */
const SPECS = {
  M: {
    title: "Machine limits (Node's fs calls, same run)",
    metrics: [
      { key: 'fdatasyncPerSec', label: '4 KiB overwrite + fdatasync /s' },
      { key: 'fdatasyncP50Ms', label: 'p50 ms' },
      { key: 'fdatasyncP99Ms', label: 'p99 ms' },
      { key: 'seqWriteMBps', label: 'seq write MB/s (1 MiB writes + fdatasync)' },
      { key: 'seqWriteNoSyncMBps', label: 'seq write MB/s (page cache)' },
      { key: 'seqReadCachedMBps', label: 'seq read MB/s (page cache)' },
      { key: 'seqReadDirectMBps', label: 'seq read MB/s (O_DIRECT, dd)' },
    ],
  },
  W1: {
    title: 'W1 — bulk load, sequential keys, 1,000 puts/txn, relaxed durability + one sync at the end',
    metrics: [
      { key: 'entriesPerSec', label: 'entries/s', better: 'higher' },
      { key: 'entriesPerSecInclClose', label: 'entries/s incl. close', better: 'higher' },
      { key: 'syncMs', label: 'final sync ms', better: 'lower' },
      { key: 'diskMB', label: 'disk MB', better: 'lower' },
      { key: 'rssMB', label: 'peak RSS MiB', better: 'lower' },
    ],
  },
  W2: {
    title: 'W2 — one put per transaction, durable (sync) commits, 1 writer',
    metrics: [
      { key: 'commitsPerSec', label: 'commits/s', better: 'higher' },
      { key: 'p50Ms', label: 'p50 ms', better: 'lower' },
      { key: 'p99Ms', label: 'p99 ms', better: 'lower' },
      { key: 'rssMB', label: 'peak RSS MiB', better: 'lower' },
    ],
  },
  W4: {
    title: 'W4 — warm random point reads, synchronous get, 1 thread',
    metrics: [
      { key: 'getsPerSec', label: 'gets/s', better: 'higher' },
      { key: 'rssMB', label: 'peak RSS MiB', better: 'lower' },
    ],
  },
  W5: {
    title: 'W5 — full ordered scan',
    metrics: [
      { key: 'entriesPerSec', label: 'entries/s', better: 'higher' },
      { key: 'rssMB', label: 'peak RSS MiB', better: 'lower' },
    ],
  },
  W6: {
    title: 'W6 — online backup of the W1 database while a writer commits (+ cp -r of the same files)',
    metrics: [
      { key: 'sourceMB', label: 'source MB' },
      { key: 'backupMBps', label: 'backup MB/s', better: 'higher' },
      { key: 'backupMBpsInclFsync', label: 'backup MB/s incl. fsync', better: 'higher' },
      { key: 'cpMBps', label: 'cp -r MB/s' },
      { key: 'cpMBpsInclFsync', label: 'cp -r MB/s incl. fsync' },
      { key: 'backupVsCp', label: 'backup / cp', better: 'higher' },
      { key: 'writerWithout', label: 'writer commits/s, no backup', better: 'higher' },
      { key: 'writerDuring', label: 'writer commits/s during backup', better: 'higher' },
      { key: 'writerRatio', label: 'during / without', better: 'higher' },
      { key: 'rssMB', label: 'peak RSS MiB', better: 'lower' },
    ],
  },
  R1: {
    title: 'R1 — catastrophic recovery of a copy of the W1 environment',
    metrics: [
      { key: 'logMB', label: 'log MB' },
      { key: 'recoverMs', label: 'recover ms', better: 'lower' },
      { key: 'MBps', label: 'MB of log/s', better: 'higher' },
      { key: 'rssMB', label: 'peak RSS MiB', better: 'lower' },
    ],
  },
  R2: {
    title: "R2 — failover: primary's death (SIGKILL) to the first read served by the standby",
    metrics: [
      { key: 'failoverMs', label: 'death → first read ms', better: 'lower' },
      { key: 'recoverMs', label: 'recover ms', better: 'lower' },
      { key: 'openMs', label: 'open ms', better: 'lower' },
      { key: 'rssMB', label: 'standby peak RSS MiB', better: 'lower' },
    ],
  },
};
SPECS.W1r = { ...SPECS.W1, title: 'W1r — bulk load as W1, keys in random order' };
SPECS.W3 = {
  title: 'W3 — durable commits as W2, 64 concurrent async writers (group commit)',
  metrics: SPECS.W2.metrics,
};

/** Key numbers for the summary table: [workload, metric key, label]. */
const KEY_NUMBERS = /** @type {const} */ ([
  ['W1', 'entriesPerSec', 'W1 seq load entries/s'],
  ['W1', 'diskMB', 'W1 disk MB'],
  ['W1r', 'entriesPerSec', 'W1r random load entries/s'],
  ['W2', 'commitsPerSec', 'W2 durable commits/s'],
  ['W2', 'p50Ms', 'W2 p50 ms'],
  ['W2', 'p99Ms', 'W2 p99 ms'],
  ['W3', 'commitsPerSec', 'W3 64-writer commits/s'],
  ['W3', 'p99Ms', 'W3 p99 ms'],
  ['W4', 'getsPerSec', 'W4 gets/s'],
  ['W5', 'entriesPerSec', 'W5 scan entries/s'],
  ['W6', 'backupMBps', 'W6 backup MB/s'],
  ['W6', 'cpMBps', 'W6 cp -r MB/s'],
  ['W6', 'writerRatio', 'W6 writer during/without backup'],
  ['R1', 'MBps', 'R1 recovery MB of log/s'],
  ['R2', 'failoverMs', 'R2 death → first read ms'],
]);

// ---------------------------------------------------------------- run

/** @type {Record<string, Record<string, Record<string, any>[]>>} */
const results = {};
/** @type {Record<string, { version?: string, unavailable?: string, settings?: Record<string, string>, w3Mode?: string, backupMethod?: string, prep?: any }>} */
const engineInfo = {};
const started = new Date();
const info = machineInfo(tmpBase);
/** @type {string[]} */
const out = []; // the report, also written as markdown
/** @param {string} s */
const emit = (s = '') => {
  console.log(s);
  out.push(s);
};
/** @param {string} s */
const progress = (s) => process.stderr.write(s + '\n');

emit(`# cairn benchmark — ${started.toISOString()}${quick ? ' (quick)' : ''}`);
emit();
emit(`- machine: ${info.cpus}, ${info.memGiB} GiB RAM, ${info.platform}, Node ${info.node}, load average ${info.loadavg.join(' ')}`);
emit(`- data: ${info.tmpdir} — ${info.tmpFs}`);
emit(`- ${n.toLocaleString('en-US')} entries (16-byte keys, 100-byte values, seed ${seed}), ${runs} run(s) per engine and workload, engines interleaved; cells are median (min–max)`);

for (const e of enginesWanted) {
  const r = await runOne(e, 'probe');
  engineInfo[e] = r.unavailable ? { unavailable: r.unavailable } : r;
}
const engines = enginesWanted.filter((e) => !engineInfo[e].unavailable);
for (const e of enginesWanted) {
  const i = engineInfo[e];
  emit(`- ${e}: ${i.unavailable ? `**unavailable** — ${i.unavailable}` : i.version}`);
}
emit();

const t0 = Date.now();
for (const w of workloadsWanted) {
  // W2 also runs the raw fdatasync loop in its rotation: the floor its target is measured against.
  const es = w === 'M' ? ['machine'] : w === 'W2' ? [...engines, 'machine'] : engines;
  if (NEEDS_BASE.has(w)) {
    for (const e of es) {
      if (engineInfo[e].prep) continue;
      progress(`prep: loading the W1 database of ${e} (${n} entries)`);
      const r = await runOne(e, 'prep').catch((err) => ({ error: String(err) }));
      // runOne removes its work dir, not the base (the base lives in root).
      engineInfo[e].prep = r;
      if (r.error) progress(`  ${e}: prep failed: ${r.error}`);
    }
  }
  results[w] = {};
  for (let run = 0; run < runs; run++) {
    const rot = run % es.length;
    for (const e of [...es.slice(rot), ...es.slice(0, rot)]) {
      /** @type {Record<string, any>} */
      let r;
      if (NEEDS_BASE.has(w) && engineInfo[e]?.prep?.error) r = { error: `no W1 database: ${engineInfo[e].prep.error}` };
      else r = await runOne(e, w);
      (results[w][e] ??= []).push(r);
      const m = SPECS[w].metrics[0];
      const what = r.na ? `n/a (${r.na})` : r.error ? `ERROR ${r.error.split('\n')[0]}` : `${fmt(r[m.key])} ${m.label}`;
      progress(`${w} run ${run + 1}/${runs} ${e}: ${what}  [rss ${fmt(r.rssMB)} MiB, ${((Date.now() - t0) / 1000).toFixed(0)} s]`);
    }
  }
}
cleanup();

// ---------------------------------------------------------------- aggregate and print

/** @param {string} w @param {string} e @param {string} key */
const values = (w, e, key) =>
  (results[w]?.[e] ?? []).map((r) => r[key]).filter((x) => typeof x === 'number' && Number.isFinite(x));
/** @param {string} w @param {string} e @param {string} key */
const med = (w, e, key) => median(values(w, e, key));

/** @type {Record<string, Record<string, Record<string, { median: number | null, min: number | null, max: number | null, runs: number }>>>} */
const summary = {};
for (const w of workloadsWanted) {
  summary[w] = {};
  for (const e of Object.keys(results[w] ?? {})) {
    summary[w][e] = {};
    for (const m of SPECS[w].metrics) {
      const xs = values(w, e, m.key);
      const mm = minMax(xs);
      summary[w][e][m.key] = { median: median(xs), min: mm?.[0] ?? null, max: mm?.[1] ?? null, runs: xs.length };
    }
  }
}

/** @param {string} w @param {string} e */
function status(w, e) {
  const rs = results[w]?.[e] ?? [];
  const na = rs.find((r) => r.na)?.na;
  const errs = rs.filter((r) => r.error).length;
  if (na && rs.every((r) => r.na)) return `n/a: ${na}`;
  if (errs && errs === rs.length) return 'error (see below)';
  return errs ? `${errs} of ${rs.length} runs failed` : '';
}

/** @type {string[]} */
const errors = [];
for (const w of workloadsWanted) {
  const spec = SPECS[w];
  emit(`## ${spec.title}`);
  emit();
  const rows = Object.keys(results[w]).map((e) => {
    const st = status(w, e);
    const cells = spec.metrics.map((m) => cell(values(w, e, m.key)));
    const extra = w === 'W6' ? (results[w][e][0]?.backupNa ? `no backup: ${results[w][e][0].backupNa}` : results[w][e][0]?.method ?? '') : w === 'R2' ? results[w][e].find((r) => r.method)?.method ?? '' : '';
    const label = e === 'machine' && w === 'W2' ? 'raw: 4 KiB overwrite + fdatasync' : e;
    return [label, ...cells, [st, extra].filter(Boolean).join('; ')];
  });
  emit(table(['engine', ...spec.metrics.map((m) => m.label), 'notes'], rows));
  emit();
  for (const e of Object.keys(results[w])) {
    const errs = results[w][e].filter((r) => r.error);
    if (errs.length) errors.push(`${w} ${e}: ${errs[0].error.split('\n').slice(0, 3).join(' | ')}`);
  }
}

/** Max over W1–W5 of the median peak RSS. @param {string} e */
const maxRss = (e) => {
  const ms = ['W1', 'W1r', 'W2', 'W3', 'W4', 'W5'].map((w) => med(w, e, 'rssMB')).filter((x) => x !== null);
  return ms.length ? Math.max(.../** @type {number[]} */ (ms)) : null;
};

const shownEngines = engines;
const peersShown = shownEngines.filter((e) => e !== 'cairn');
const hasCairn = shownEngines.includes('cairn');
/** @param {number | null} a @param {number | null} b */
const ratio = (a, b) => (a !== null && b !== null && b !== 0 ? a / b : null);
/** @param {number | null} r */
const fmtRatio = (r) => (r === null ? '—' : `${r.toFixed(2)}×`);

emit('## Key numbers (medians) and cairn/peer ratios');
emit();
{
  /** @type {string[][]} */
  const rows = [];
  /** @type {Record<string, Record<string, number | null>>} */
  const ratios = {};
  const lines = [...KEY_NUMBERS.filter(([w]) => workloadsWanted.includes(w)).map(([w, k, label]) => ({ label, get: (/** @type {string} */ e) => med(w, e, k), better: SPECS[w].metrics.find((m) => m.key === k)?.better ?? 'higher' })), { label: 'max peak RSS MiB, W1–W5', get: maxRss, better: /** @type {const} */ ('lower') }];
  for (const l of lines) {
    const vals = shownEngines.map((e) => l.get(e));
    const rs = hasCairn ? peersShown.map((p) => ratio(l.get('cairn'), l.get(p))) : [];
    ratios[l.label] = Object.fromEntries(peersShown.map((p, i) => [p, rs[i] ?? null]));
    rows.push([l.label, l.better === 'lower' ? '↓' : '↑', ...vals.map(fmt), ...rs.map(fmtRatio)]);
  }
  emit(table(['metric', 'better', ...shownEngines, ...(hasCairn ? peersShown.map((p) => `cairn/${p}`) : [])], rows));
  const raw = med('W2', 'machine', 'commitsPerSec');
  if (raw !== null) emit(`\nRaw durable-write floor in W2's rotation (4 KiB overwrite + fdatasync): ${fmt(raw)}/s, p50 ${fmt(med('W2', 'machine', 'p50Ms'))} ms.`);
  if (!hasCairn) emit(`\n(no cairn column: ${engineInfo.cairn?.unavailable ? 'cairn unavailable — ' + engineInfo.cairn.unavailable : 'not selected'}; ratios need it)`);
  emit();
  summary._ratios = /** @type {any} */ (ratios);
}

// The issue's targets, as same-run ratios.
/** @type {{ target: string, measured: number | null, goal: number, lower?: boolean, unit: string }[]} */
const targets = [
  { target: 'W1 ≥ 1.0× lmdb', measured: ratio(med('W1', 'cairn', 'entriesPerSec'), med('W1', 'lmdb', 'entriesPerSec')), goal: 1.0, unit: '×' },
  { target: 'W1r ≥ 1.0× classic-level', measured: ratio(med('W1r', 'cairn', 'entriesPerSec'), med('W1r', 'classic-level', 'entriesPerSec')), goal: 1.0, unit: '×' },
  { target: 'W2 ≥ 1.0× better-sqlite3', measured: ratio(med('W2', 'cairn', 'commitsPerSec'), med('W2', 'better-sqlite3', 'commitsPerSec')), goal: 1.0, unit: '×' },
  { target: 'W2 ≥ 0.9× raw fdatasync rate', measured: ratio(med('W2', 'cairn', 'commitsPerSec'), med('W2', 'machine', 'commitsPerSec') ?? med('M', 'machine', 'fdatasyncPerSec')), goal: 0.9, unit: '×' },
  { target: 'W3 ≥ 2.0× lmdb', measured: ratio(med('W3', 'cairn', 'commitsPerSec'), med('W3', 'lmdb', 'commitsPerSec')), goal: 2.0, unit: '×' },
  { target: 'W4 ≥ 1.5× lmdb', measured: ratio(med('W4', 'cairn', 'getsPerSec'), med('W4', 'lmdb', 'getsPerSec')), goal: 1.5, unit: '×' },
  { target: 'W5 ≥ 1.0× lmdb', measured: ratio(med('W5', 'cairn', 'entriesPerSec'), med('W5', 'lmdb', 'entriesPerSec')), goal: 1.0, unit: '×' },
  { target: 'W6 backup ≥ 0.8× cp -r', measured: med('W6', 'cairn', 'backupVsCp'), goal: 0.8, unit: '×' },
  { target: 'W6 writer during backup ≥ 0.8× without', measured: med('W6', 'cairn', 'writerRatio'), goal: 0.8, unit: '×' },
  { target: 'R1 ≥ 250 MB/s of log', measured: med('R1', 'cairn', 'MBps'), goal: 250, unit: ' MB/s' },
  { target: 'R2 < 1 s (W1 database)', measured: med('R2', 'cairn', 'failoverMs'), goal: 1000, lower: true, unit: ' ms' },
  { target: 'peak RSS W1–W5 ≤ lmdb', measured: ratio(maxRss('cairn'), maxRss('lmdb')), goal: 1.0, lower: true, unit: '×' },
];
emit('## Targets of issue 6 (cairn, same-run ratios)');
emit();
emit(
  table(
    ['target', 'measured', 'status'],
    targets.map((t) => [
      t.target,
      t.measured === null ? '—' : t.unit === '×' ? fmtRatio(t.measured) : fmt(t.measured) + t.unit,
      t.measured === null ? 'n/a' : (t.lower ? (t.unit === ' ms' ? t.measured < t.goal : t.measured <= t.goal) : t.measured >= t.goal) ? 'met' : 'NOT met',
    ]),
  ),
);
emit();
if (errors.length) {
  emit('## Errors');
  emit();
  for (const e of errors) emit(`- ${e}`);
  emit();
}
emit(`Total ${((Date.now() - t0) / 1000).toFixed(0)} s. Results: ${path.relative(process.cwd(), jsonPath)}`);

fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
fs.writeFileSync(
  jsonPath,
  JSON.stringify(
    {
      meta: { started: started.toISOString(), finished: new Date().toISOString(), argv: process.argv.slice(2), quick, runs, context: common, r2WriteMs: R2_WRITE_MS, machine: info, loadavgEnd: os.loadavg() },
      engines: engineInfo,
      summary,
      targets,
      runs: results,
    },
    null,
    2,
  ) + '\n',
);
fs.writeFileSync(jsonPath.replace(/\.json$/, '') + '.md', out.join('\n') + '\n');
