// The corruption catalogue (issue 4 item 6, I6): zeroed pages and sectors, random overwrites and
// misdirected pages in every page kind; the end-of-log defect catalogue (torn tails versus a bad
// record followed by valid ones, damaged or misnumbered log headers, a missing middle log
// file); control file damage; and stale but valid older pages (the page LSN map). Each case is
// read either by a normal open (normal recovery for the crashed image) or after catastrophic
// recovery (the log cases both ways), then every database is read in full and verified, and a
// write uses the whole free list (testing/corruptkit.ts readAll).
//
// Oracle: a typed CairnError naming the damaged file (and, where there is one, the exact
// offset), or — only where the damage cannot matter or is provably repaired from the log — a
// state equal to the model. Never a wrong value, never an untyped exception.
//
// Never a hang: the cases run in a worker thread that reports the start and end of each case;
// the test thread stops the worker (Worker.terminate interrupts even a synchronous endless loop)
// when a case has not ended 2 s after it started, and fails naming the case. The worker also
// fails any case that took over 2 s.
//
// Replay one case: CAIRN_SEED=<seed> CAIRN_CASE=<n> node --test dist/env/corruption.test.js

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SimVfs } from '../io/sim.js';
import { checkPage } from '../page/pager.js';
import { logFileName } from '../log/file.js';
import { zlib } from '../util/node.js';
import { makeLsn } from '../util/lsn.js';
import { rng, randInt, randBytes, testSeeds } from '../util/random.js';
import { type Expect, type Files, type History, type Outcome, FILES, HOME, PAGE_SIZE, buildHistory, judge, logRecords, readAll } from '../testing/corruptkit.js';

const LIMIT_MS = 2000;
const BUILD_LIMIT_MS = 60_000;
const nightly = process.env.CAIRN_NIGHTLY === '1';
const COUNTS = { pages: nightly ? 6000 : 600, log: nightly ? 3000 : 300, control: nightly ? 1000 : 100, stale: nightly ? 2000 : 200 };
type Group = keyof typeof COUNTS;

interface Case {
  /** category (counted and printed): damage and where */
  category: string;
  what: string;
  files: Files;
  catastrophic: boolean;
  expect: Expect;
}

const KINDS = ['free', 'meta', 'branch', 'leaf', 'overflow'] as const;
type Kind = (typeof KINDS)[number];

interface PageRef {
  path: string;
  pgno: number;
  kind: Kind;
}

/** Every written page of the data files of an image, with its kind (pages failing their check are left out). */
function pagesOf(files: Files): PageRef[] {
  const out: PageRef[] = [];
  for (const name of FILES) {
    const path = `${HOME}/${name}`;
    const data = files.get(path)!;
    const uid = data.readUInt32LE(16);
    for (let pgno = 0; (pgno + 1) * PAGE_SIZE <= data.length; pgno++) {
      const page = data.subarray(pgno * PAGE_SIZE, (pgno + 1) * PAGE_SIZE);
      if (checkPage(page, pgno, uid) !== undefined) continue;
      out.push({ path, pgno, kind: KINDS[page[20]!]! });
    }
  }
  return out;
}

const pageBytes = (files: Files, p: { path: string; pgno: number }) => files.get(p.path)!.subarray(p.pgno * PAGE_SIZE, (p.pgno + 1) * PAGE_SIZE);

function withFile(files: Files, path: string, data: Buffer | undefined): Files {
  const copy = new Map(files);
  if (data === undefined) copy.delete(path);
  else copy.set(path, data);
  return copy;
}

const base = (path: string) => path.slice(path.lastIndexOf('/') + 1);

// ---- pages ---------------------------------------------------------------------------------

const PAGE_DAMAGE = ['zeroed page', 'zeroed sector', 'overwrite', 'misdirected (same file)', 'misdirected (other file)'] as const;

function* pageCases(h: History, r: () => number, count: number): Generator<Case> {
  const pages = pagesOf(h.closed2);
  for (const k of KINDS) assert.ok(pages.some((p) => p.kind === k), `the standard history has no ${k} page`);
  for (let i = 0; i < count; i++) {
    const kind = KINDS[i % KINDS.length]!;
    const damage = PAGE_DAMAGE[Math.floor(i / KINDS.length) % PAGE_DAMAGE.length]!;
    const of = pages.filter((p) => p.kind === kind);
    for (;;) {
      const target = of[randInt(r, of.length)]!;
      const data = Buffer.from(h.closed2.get(target.path)!);
      const at = target.pgno * PAGE_SIZE;
      const page = data.subarray(at, at + PAGE_SIZE);
      const before = Buffer.from(page);
      let detail = '';
      if (damage === 'zeroed page') page.fill(0);
      else if (damage === 'zeroed sector') {
        const s = randInt(r, PAGE_SIZE / 512) * 512;
        page.fill(0, s, s + 512);
        detail = ` bytes ${s}..${s + 511}`;
      } else if (damage === 'overwrite') {
        const s = randInt(r, PAGE_SIZE);
        const n = 1 + randInt(r, Math.min(256, PAGE_SIZE - s));
        randBytes(r, n).copy(page, s);
        detail = ` bytes ${s}..${s + n - 1}`;
      } else {
        const pool = damage === 'misdirected (same file)' ? pages.filter((p) => p.path === target.path && p.pgno !== target.pgno) : pages.filter((p) => p.path !== target.path);
        const from = pool[randInt(r, pool.length)]!;
        pageBytes(h.closed2, from).copy(page);
        detail = ` (page ${from.pgno} of ${base(from.path)} written there)`;
      }
      if (page.equals(before)) continue; // the damage changed nothing: draw again
      const catastrophic = randInt(r, 3) === 0;
      const name = base(target.path);
      // Another file's meta page is sound in itself: the first page read that disagrees with it
      // (any page of the file, all carrying the file's id) is where the damage shows.
      const span = damage === 'misdirected (other file)' && kind === 'meta' ? data.length : PAGE_SIZE;
      const expect: Expect = catastrophic
        ? { names: [target.path, name], model: h.model2 } // catastrophic recovery may rebuild the page from the log
        : { names: [target.path, name], at: { file: target.path, offset: at, span } };
      yield {
        category: `page ${damage}, ${kind}${catastrophic ? ', catastrophic' : ''}`,
        what: `${damage} of ${kind} page ${target.pgno} of ${name}${detail}${catastrophic ? ', catastrophic recovery' : ', normal open'}`,
        files: withFile(h.closed2, target.path, data),
        catastrophic,
        expect,
      };
      break;
    }
  }
}

// ---- stale but valid older pages ------------------------------------------------------------------

function* staleCases(h: History, r: () => number, count: number): Generator<Case> {
  const old = h.closed1;
  const candidates = pagesOf(h.closed2).filter((p) => {
    if (p.kind === 'free') return false;
    const data = old.get(p.path)!;
    if ((p.pgno + 1) * PAGE_SIZE > data.length) return false;
    const was = pageBytes(old, p);
    return checkPage(was, p.pgno, data.readUInt32LE(16)) === undefined && !was.equals(pageBytes(h.closed2, p));
  });
  const kinds = (['meta', 'branch', 'leaf', 'overflow'] as const).filter((k) => candidates.some((p) => p.kind === k));
  assert.ok(kinds.length === 4, `stale candidates only for ${kinds.join(', ')}`);
  for (let i = 0; i < count; i++) {
    const kind = kinds[i % kinds.length]!;
    const of = candidates.filter((p) => p.kind === kind);
    const target = of[randInt(r, of.length)]!;
    const data = Buffer.from(h.closed2.get(target.path)!);
    pageBytes(old, target).copy(data, target.pgno * PAGE_SIZE);
    const catastrophic = randInt(r, 3) === 0;
    const name = base(target.path);
    yield {
      category: `stale ${kind}${catastrophic ? ', catastrophic' : ''}`,
      what: `stale older copy of ${kind} page ${target.pgno} of ${name}${catastrophic ? ', catastrophic recovery' : ', normal open'}`,
      files: withFile(h.closed2, target.path, data),
      catastrophic,
      expect: catastrophic ? { names: [target.path, name], model: h.model2 } : { names: [target.path, name], at: { file: target.path, offset: target.pgno * PAGE_SIZE, span: PAGE_SIZE } },
    };
  }
}

// ---- the log ---------------------------------------------------------------------------------

function* logCases(h: History, r: () => number, count: number): Generator<Case> {
  const recs = logRecords(h.crashed);
  const full = h.crashedModels[h.crashedModels.length - 1]!;
  const prev = h.crashedModels[h.crashedModels.length - 2]!;
  const lastRec = recs[recs.length - 1]!;
  assert.equal(lastRec.type, 'commit');
  const first = recs.findIndex((x) => x.txn === lastRec.txn);
  const s = recs[first]!.offset;
  const e = lastRec.end;
  const lastPath = lastRec.path;
  assert.ok(recs.slice(first).every((x) => x.path === lastPath), 'the last transaction spans log files');
  assert.ok(e - s > 4 * 512, `the last transaction spans only ${e - s} bytes`);
  const logFiles = [...new Set(recs.map((x) => x.fileNo))];
  assert.ok(logFiles.length >= 4, `only ${logFiles.length} log files`);
  const lastFile = logFiles[logFiles.length - 1]!;
  const redo = makeLsn(h.crashedRedo.file, h.crashedRedo.offset);
  const pathOf = (n: number) => `${HOME}/${logFileName(n)}`;
  const both = (c: Omit<Case, 'catastrophic'>) => [
    { ...c, catastrophic: false, what: `${c.what}, normal recovery` },
    { ...c, category: `${c.category}, catastrophic`, catastrophic: true, what: `${c.what}, catastrophic recovery` },
  ];
  const tail = (data: Buffer): Files => withFile(h.crashed, lastPath, data);
  const torn = { names: [], mustSucceed: true, model: prev };

  // A torn tail cut at every sector boundary of the last transaction (its records were written
  // together, its commit record last): the end of the log; every earlier commit is kept.
  const cuts = [s];
  for (let b = Math.ceil((s + 1) / 512) * 512; b < e; b += 512) cuts.push(b);
  for (const b of cuts) {
    const data = Buffer.from(h.crashed.get(lastPath)!);
    data.fill(0, b, e);
    yield* both({ category: 'torn tail: cut at a sector boundary', what: `torn tail: ${base(lastPath)} zero from ${b} (the last transaction is ${s}..${e - 1})`, files: tail(data), expect: torn });
  }

  /** Where the first byte differs, and the record holding it (undefined: past the records). */
  const firstChange = (path: string, a: Buffer, b: Buffer) => {
    let p = 0;
    while (p < a.length && a[p] === b[p]) p++;
    return recs.find((x) => x.path === path && x.offset <= p && p < x.end);
  };
  /** A bad record there is provably not a torn tail: a later file, or a later record claiming the log durable past it. */
  const provable = (x: { fileNo: number; offset: number; path: string }) =>
    x.fileNo < lastFile || recs.some((y) => y.path === x.path && y.offset > x.offset && y.durable > makeLsn(x.fileNo, x.offset));

  const KINDS_LOG = ['torn: partly written record', 'torn: garbage in the last sectors', 'torn: a lost sector before the last', 'garbage after the end', 'bit flip mid-log', 'zeroed sector mid-log', 'overwrite mid-log', 'damaged header', 'header says the wrong number', 'missing middle log file'] as const;
  for (let i = 0; i < count; i += 2) {
    const kind = KINDS_LOG[(i / 2) % KINDS_LOG.length]!;
    if (kind.startsWith('torn') || kind === 'garbage after the end') {
      const data = Buffer.from(h.crashed.get(lastPath)!);
      let what: string;
      if (kind === 'torn: partly written record') {
        const c = s + 1 + randInt(r, e - s - 1);
        data.fill(0, c, e);
        what = `zero from ${c}`;
      } else if (kind === 'torn: garbage in the last sectors') {
        const b = cuts[randInt(r, cuts.length)]!;
        randBytes(r, e - b).copy(data, b);
        what = `random bytes from ${b} to ${e - 1}`;
      } else if (kind === 'torn: a lost sector before the last') {
        // (a sector whose bytes are all zero already, inside a page image, would change nothing)
        const sectors = cuts.filter((b) => Math.floor(b / 512) * 512 + 512 < e && data.subarray(b, Math.floor(b / 512) * 512 + 512).some((x) => x !== 0));
        const b = sectors[randInt(r, sectors.length)]!;
        const to = Math.floor(b / 512) * 512 + 512;
        data.fill(0, b, to);
        what = `zero ${b}..${to - 1}, later sectors kept`;
      } else {
        const at = e + randInt(r, 2048);
        const n = 1 + randInt(r, 512);
        randBytes(r, n).copy(data, at);
        what = `random bytes ${at}..${at + n - 1} after the end at ${e}`;
      }
      yield* both({ category: kind, what: `${kind}: ${base(lastPath)} ${what}`, files: tail(data), expect: kind === 'garbage after the end' ? { ...torn, model: full } : torn });
      continue;
    }
    if (kind.endsWith('mid-log')) {
      // Half the time a record after the redo point, which normal recovery reads too.
      const eligible = recs.filter(provable);
      const afterRedo = eligible.filter((x) => makeLsn(x.fileNo, x.offset) >= redo);
      assert.ok(afterRedo.length > 0, 'no provably bad record after the redo point');
      for (;;) {
        const pool = randInt(r, 2) === 0 ? afterRedo : eligible;
        const x = pool[randInt(r, pool.length)]!;
        const orig = h.crashed.get(x.path)!;
        const data = Buffer.from(orig);
        const p = x.offset + randInt(r, x.end - x.offset);
        let what: string;
        if (kind === 'bit flip mid-log') {
          const bit = randInt(r, 8);
          data[p]! ^= 1 << bit;
          what = `bit ${bit} of byte ${p}`;
        } else if (kind === 'zeroed sector mid-log') {
          const sec = Math.max(64, Math.floor(p / 512) * 512);
          data.fill(0, sec, Math.floor(p / 512) * 512 + 512);
          what = `zero sector ${sec}..${Math.floor(p / 512) * 512 + 511}`;
        } else {
          const n = 1 + randInt(r, 200);
          randBytes(r, n).copy(data, p);
          what = `random bytes ${p}..${p + n - 1}`;
        }
        const hit = firstChange(x.path, orig, data);
        if (hit === undefined || !provable(hit)) continue; // changed nothing, or only the unprovable last batch: draw again
        const expect: Expect = { names: [x.path], at: { file: x.path, offset: hit.offset, span: 1 } };
        const c = { category: `bad record before valid ones: ${kind}`, what: `${kind}: ${base(x.path)} ${what} (record at ${hit.offset})`, files: withFile(h.crashed, x.path, data) };
        const readByNormal = makeLsn(hit.fileNo, hit.offset) >= redo;
        const [normal, cat] = both({ ...c, expect });
        // Before the redo point normal recovery need not read it: refusing or ignoring it are both right.
        yield readByNormal ? normal! : { ...normal!, category: `${normal!.category} (before the redo point)`, expect: { names: [x.path], model: full } };
        yield cat!;
        break;
      }
      continue;
    }
    const n = kind === 'missing middle log file' ? logFiles[1 + randInt(r, logFiles.length - 2)]! : logFiles[randInt(r, logFiles.length)]!;
    const path = pathOf(n);
    const data = Buffer.from(h.crashed.get(path)!);
    let what: string;
    let files: Files;
    let expect: Expect;
    if (kind === 'damaged header') {
      const how = randInt(r, 3);
      if (how === 0) {
        const p = randInt(r, 64);
        data[p]! ^= 1 << randInt(r, 8);
        what = `bit flip in header byte ${p}`;
      } else if (how === 1) {
        data.fill(0, 0, 64);
        what = 'header zeroed';
      } else {
        const p = randInt(r, 64);
        const len = 1 + randInt(r, 64 - p);
        randBytes(r, len).copy(data, p);
        what = `random header bytes ${p}..${p + len - 1}`;
      }
      files = withFile(h.crashed, path, data);
      expect = { names: [path], at: { file: path, offset: 0, span: 1 } };
      if (data.equals(h.crashed.get(path)!)) continue;
    } else if (kind === 'header says the wrong number') {
      const m = n + (randInt(r, 2) === 0 ? -1 : 1 + randInt(r, 3));
      data.writeUInt32LE(m, 12);
      data.writeUInt32LE(zlib.crc32(data.subarray(0, 60)), 60);
      what = `header says file ${m}`;
      files = withFile(h.crashed, path, data);
      expect = { names: [path], at: { file: path, offset: 12, span: 1 } };
    } else {
      what = 'removed';
      files = withFile(h.crashed, path, undefined);
      expect = { names: [logFileName(n)] };
    }
    const [normal, cat] = both({ category: kind, what: `${kind}: ${logFileName(n)} ${what}`, files, expect });
    yield n >= h.crashedRedo.file ? normal! : { ...normal!, category: `${kind} (before the redo point)`, expect: { names: [logFileName(n)], model: full } };
    yield cat!;
  }
}

// ---- the control file ------------------------------------------------------------------------

function* controlCases(h: History, r: () => number, count: number): Generator<Case> {
  const path = `${HOME}/__cairn.control`;
  const KINDS_CONTROL = ['bit flip', 'zeroed', 'truncated', 'overwrite', 'removed', 'stale older copy'] as const;
  for (let i = 0; i < count; i++) {
    const kind = KINDS_CONTROL[Math.floor(i / 2) % KINDS_CONTROL.length]!;
    const crashed = randInt(r, 2) === 0;
    const image = crashed ? h.crashed : h.closed2;
    const model = crashed ? h.crashedModels[h.crashedModels.length - 1]! : h.model2;
    const orig = image.get(path)!;
    let data: Buffer | undefined = Buffer.from(orig);
    let what: string = kind;
    if (kind === 'bit flip') {
      const p = randInt(r, data.length);
      const bit = randInt(r, 8);
      data[p]! ^= 1 << bit;
      what = `bit ${bit} of byte ${p}`;
    } else if (kind === 'zeroed') data.fill(0);
    else if (kind === 'truncated') {
      const n = randInt(r, data.length - 1);
      data = data.subarray(0, n);
      what = `cut to ${n} bytes`;
    } else if (kind === 'overwrite') {
      const p = randInt(r, data.length);
      const n = 1 + randInt(r, Math.min(40, data.length - p));
      randBytes(r, n).copy(data, p);
      what = `random bytes ${p}..${p + n - 1}`;
    } else if (kind === 'removed') data = undefined;
    else data = (crashed ? h.closed2 : h.closed1).get(path)!;
    if (data !== undefined && data.equals(orig)) {
      i--;
      continue;
    }
    const catastrophic = i % 2 === 1;
    yield {
      category: `control ${kind}${catastrophic ? ', catastrophic' : ''}`,
      what: `control file ${what} in the ${crashed ? 'crashed' : 'closed'} image, ${catastrophic ? 'catastrophic recovery' : 'normal open'}`,
      files: withFile(image, path, data),
      catastrophic,
      // A normal open must refuse, except that an older control file of a crashed environment
      // only makes recovery start earlier (redo is idempotent: I10); catastrophic recovery
      // rebuilds the control file from the logs.
      expect: catastrophic ? { names: [], model, mustSucceed: true } : crashed && kind === 'stale older copy' ? { names: [path, HOME], model } : { names: [path, HOME] },
    };
  }
}

const GENERATORS: Record<Group, (h: History, r: () => number, count: number) => Generator<Case>> = { pages: pageCases, log: logCases, control: controlCases, stale: staleCases };

// ---- the worker: runs one group's cases and reports each start and end ---------------------

interface Report {
  cases: number;
  maxMs: number;
  counts: Record<string, { detected: number; equal: number }>;
}

type Message = { t: 'start'; i: number; what: string } | { t: 'done'; i: number } | { t: 'end'; report: Report } | { t: 'fail'; message: string };

async function work(group: Group, seed: number, count: number, only: number | undefined): Promise<void> {
  const post = (m: Message) => parentPort!.postMessage(m);
  // The environment warns once per open that it has no coordination socket on the simulated file system.
  process.removeAllListeners('warning');
  const h = await buildHistory();
  const r = rng(seed);
  const report: Report = { cases: 0, maxMs: 0, counts: {} };
  let i = 0;
  for (const c of GENERATORS[group](h, r, count)) {
    const n = i++;
    if (only !== undefined && n !== only) continue;
    const what = `${group} case ${n}: ${c.what} (replay: CAIRN_SEED=${seed} CAIRN_CASE=${n} node --test dist/env/corruption.test.js)`;
    post({ t: 'start', i: n, what });
    const t0 = performance.now();
    const outcome: Outcome = await judge(what, c.expect, () => readAll(SimVfs.fromFiles(c.files), c.catastrophic));
    const ms = performance.now() - t0;
    assert.ok(ms <= LIMIT_MS, `${what}: took ${ms.toFixed(0)} ms, over the ${LIMIT_MS} ms limit`);
    report.maxMs = Math.max(report.maxMs, ms);
    report.cases++;
    const k = (report.counts[c.category] ??= { detected: 0, equal: 0 });
    if (outcome === 'detected') k.detected++;
    else k.equal++;
    post({ t: 'done', i: n });
  }
  post({ t: 'end', report });
}

if (!isMainThread && (workerData as { corruption?: boolean })?.corruption) {
  const d = workerData as { group: Group | 'hang'; seed: number; count: number; only?: number };
  if (d.group === 'hang') {
    // The watchdog's own test: a case that blocks the worker's thread for good.
    parentPort!.postMessage({ t: 'start', i: 0, what: 'watchdog test: a case that never ends' } satisfies Message);
    for (;;);
  }
  work(d.group, d.seed, d.count, d.only).catch((e: unknown) => parentPort!.postMessage({ t: 'fail', message: (e as Error)?.stack ?? String(e) } satisfies Message));
}

// ---- the tests: one worker per group, watched ---------------------------------------------------

function runGroup(group: Group | 'hang', seed: number): Promise<Report> {
  const only = process.env.CAIRN_CASE ? Number(process.env.CAIRN_CASE) : undefined;
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { corruption: true, group, seed, count: group === 'hang' ? 0 : COUNTS[group], only } });
    let current = `building the standard history (CAIRN_SEED=${seed})`;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const watch = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new Error(`${current}: no result after ${ms} ms (a hang); the worker was stopped`)), ms);
    };
    const finish = (err: Error | undefined, report?: Report) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void w.terminate();
      if (err) reject(err);
      else resolve(report!);
    };
    watch(BUILD_LIMIT_MS);
    w.on('message', (m: Message) => {
      if (m.t === 'start') {
        current = m.what;
        watch(LIMIT_MS);
      } else if (m.t === 'done') clearTimeout(timer);
      else if (m.t === 'end') finish(undefined, m.report);
      else finish(new assert.AssertionError({ message: m.message }));
    });
    w.on('error', (e) => finish(new Error(`${current}: the worker failed: ${e.stack ?? String(e)}`)));
    w.on('exit', (code) => finish(new Error(`${current}: the worker exited (${code}) before the end`)));
  });
}

let total = 0;

for (const group of isMainThread ? (['pages', 'log', 'control', 'stale'] as const) : []) {
  test(`corruption catalogue: ${group}`, async () => {
    for (const seed of testSeeds(1, 1)) {
      const t0 = performance.now();
      const report = await runGroup(group, seed);
      total += report.cases;
      const lines = Object.entries(report.counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([c, n]) => `  ${c}: ${n.detected} detected, ${n.equal} equal to the model`);
      process.stdout.write(`corruption ${group} (CAIRN_SEED=${seed}): ${report.cases} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s, slowest ${report.maxMs.toFixed(0)} ms\n${lines.join('\n')}\n`);
      if (process.env.CAIRN_CASE === undefined) assert.ok(report.cases >= COUNTS[group], `only ${report.cases} ${group} cases ran`);
      else assert.equal(report.cases, 1, `case ${process.env.CAIRN_CASE} does not exist`);
    }
  });
}

if (isMainThread) {
  test('the watchdog stops a case that blocks its thread for good, 2 s after it started', async () => {
    const t0 = performance.now();
    await assert.rejects(runGroup('hang', 0), /watchdog test: a case that never ends: no result after 2000 ms \(a hang\); the worker was stopped/);
    const ms = performance.now() - t0;
    assert.ok(ms >= LIMIT_MS && ms < LIMIT_MS + 5000, `the watchdog fired after ${ms.toFixed(0)} ms`);
  });
}

if (isMainThread && process.env.CAIRN_CASE === undefined) {
  test('at least 1,000 corruption cases per run', () => {
    assert.ok(total >= (nightly ? 10_000 : 1_000), `only ${total} cases`);
  });
}
