// Worker side of the structure-aware fuzzer of db_load input (src/dump/fuzz.test.ts).
//
// Seeds: every reference dump of real Berkeley DB (testdata/bdb-dumps) and random
// dumps written by formatSection (bytevalue and print, btree/hash/recno/queue, duplicates,
// named databases, keys=1). Each case mutates one seed at the level of its structure — header
// keywords and values (huge numbers, negative, empty, unknown), lines deleted, duplicated,
// swapped or inserted (HEADER=END, DATA=END, VERSION=), hex lines with odd lengths or non-hex
// digits, print-format escapes (\, \x, \g0, a trailing backslash), raw binary garbage, CRLF,
// a missing DATA=END or final newline, a truncated input — and feeds it to DumpParser in
// random chunk sizes, sometimes as -T text, with -t and -c options, sometimes with small
// item limits (DumpParserOptions.limits: over-long lines refused while streaming). Oracle: events, or a
// CairnError; never another exception. Every LOAD_EVERY-th case also goes through the loader
// (runLoad, in this thread) into a real directory: success, or a typed error (CliError or
// CairnError) with the directory unchanged byte for byte.

import { parentPort, workerData } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DumpParser, formatSection, DUMP_TYPES, type DumpHeader, type DumpParserOptions } from '../dump/format.js';
import { CairnError } from '../util/errors.js';
import { CliError } from '../cli/common.js';
import { rng, randInt, randBytes } from '../util/random.js';
import { guardAllocations, newStats, tally, type CaseOutcome, type WorkerMessage } from './fuzzkit.js';
import { runLoad } from '../tools/loader.js';
import { dumpInput } from '../cli/load.js';
import { snapshot, tmpDir, VECTORS } from './toolskit.js';

export interface DumpFuzzJob {
  seeds: number[];
  cases: number;
  only?: number;
  /** Every this many cases goes through runLoad as well. */
  loadEvery: number;
}

/** Largest Buffer a case may allocate (inputs are at most a few hundred KiB). */
export const MAX_ALLOC = 16 * 1024 * 1024;

type R = () => number;

function pick<T>(r: R, xs: readonly T[]): T {
  return xs[randInt(r, xs.length)]!;
}

/** A random valid dump: 1–2 sections, random header options, random records. */
function generate(r: R): string {
  const parts: string[] = [];
  const sections = 1 + (randInt(r, 4) === 0 ? 1 : 0);
  for (let s = 0; s < sections; s++) {
    const type = pick(r, DUMP_TYPES);
    const recno = type === 'recno' || type === 'queue';
    const h: DumpHeader = { version: 3, format: pick(r, ['bytevalue', 'print'] as const), type, extra: [] };
    if (sections > 1 || randInt(r, 3) === 0) h.database = pick(r, ['sub', `s${s}`, 'with space', 'é', 'a\\b']);
    if (!recno && randInt(r, 3) === 0) h.duplicates = true;
    if (h.duplicates && randInt(r, 2) === 0) h.dupsort = true;
    if (recno && randInt(r, 2) === 0) h.keys = true;
    if (type === 'queue' || (type === 'recno' && randInt(r, 3) === 0)) h.reLen = 8 + randInt(r, 24);
    if (randInt(r, 4) === 0) h.dbPagesize = pick(r, [512, 4096, 8192]);
    const records: Array<[Buffer, Buffer]> = [];
    const n = randInt(r, 12);
    for (let i = 0; i < n; i++) {
      const key = recno ? Buffer.from(String(i + 1)) : randBytes(r, 1 + randInt(r, 12));
      const value = randBytes(r, h.reLen !== undefined ? randInt(r, h.reLen + 1) : randInt(r, 40));
      records.push([key, value]);
    }
    if (!recno) records.sort((a, b) => Buffer.compare(a[0], b[0]));
    parts.push(...formatSection(h, records));
  }
  return parts.join('');
}

const VALUES = [
  '', '0', '1', '-1', '2', '3', '255', '256', '65536', '4294967295', '4294967296', '9007199254740993', '99999999999999999999999',
  '1e3', '0x10', '0xff', '0xzz', ' 1', '1 ', '+1', '01', 'é', '\\', '\\00', 'bytevalue', 'print', 'btree', 'hash', 'recno',
  'queue', 'heap', 'unknown', 'END', 'x'.repeat(5000),
];
const KEYWORDS = [
  'VERSION', 'format', 'type', 'database', 'subdatabase', 'keys', 'duplicates', 'dupsort', 'recnum', 'renumber', 're_len',
  're_pad', 'h_ffactor', 'h_nelem', 'db_pagesize', 'bt_minkey', 'chksum', 'extentsize', 'db_lorder', 'compressed', 'nparts',
  'HEADER', 'DATA', 'Format', 'unknown_keyword', '',
];
const ESCAPES = ['\\', '\\x', '\\g0', '\\0', '\\\\', '\\ff', '\\FF', '\\00', '\\0a', '\\', '\t', '\x7f', '\xff'];

/** One structure-aware mutation of a dump's lines. */
function mutate(r: R, input: string): { data: Buffer; what: string } {
  const lines = input.split('\n');
  const last = lines.pop(); // '' after the final newline
  const i = randInt(r, Math.max(1, lines.length));
  const line = lines[i] ?? '';
  const eq = line.indexOf('=');
  const isData = line.startsWith(' ');
  let what: string;
  const n = randInt(r, 16);
  if (n <= 2 && eq > 0 && !isData) {
    const v = pick(r, VALUES);
    lines[i] = `${line.slice(0, eq + 1)}${v}`;
    what = `line ${i + 1} value ${JSON.stringify(v.slice(0, 20))}`;
  } else if (n === 3 && eq > 0 && !isData) {
    const k = pick(r, KEYWORDS);
    lines[i] = `${k}${line.slice(eq)}`;
    what = `line ${i + 1} keyword ${JSON.stringify(k)}`;
  } else if (n === 4) {
    const ins = pick(r, ['HEADER=END', 'DATA=END', 'VERSION=3', 'VERSION=2', 'VERSION=', 'keys=1', 'database=x', 're_len=4', 'nparts=2', 'format=print', 'type=queue', ' ', ' 00', ' 0', '', 'garbage']);
    lines.splice(i, 0, ins);
    what = `line ${JSON.stringify(ins)} inserted at ${i + 1}`;
  } else if (n === 5) {
    lines.splice(i, 1);
    what = `line ${i + 1} deleted`;
  } else if (n === 6) {
    lines.splice(i, 0, line);
    what = `line ${i + 1} duplicated`;
  } else if (n === 7 && i + 1 < lines.length) {
    [lines[i], lines[i + 1]] = [lines[i + 1]!, line];
    what = `lines ${i + 1} and ${i + 2} swapped`;
  } else if (n <= 9 && isData) {
    const k = randInt(r, 7);
    const at = 1 + randInt(r, Math.max(1, line.length - 1));
    if (k === 0) lines[i] = line.slice(0, -1);
    else if (k === 1) lines[i] = `${line.slice(0, at)}${pick(r, ['g', 'G', 'A', 'F', ' ', '\t', 'z', '-', '\u00e9'])}${line.slice(at)}`;
    else if (k === 2) lines[i] = line.toUpperCase();
    else if (k === 3) lines[i] = line.slice(1);
    else if (k === 4) lines[i] = `${line.slice(0, at)}${pick(r, ESCAPES)}${line.slice(at)}`;
    else if (k === 5) lines[i] = ` ${'0'.repeat(pick(r, [1, 3, 2 * 65537, 2 * 70000 + 1]))}`;
    else lines[i] = `${line}${pick(r, ['\\', ' ', '\r', '0'])}`;
    what = `data line ${i + 1} ${['odd length', 'bad digit', 'upper case', 'no leading space', 'escape', 'long run', 'trailing char'][k]}`;
  } else if (n === 10) {
    const idx = lines.lastIndexOf('DATA=END');
    if (idx >= 0) lines.splice(idx, 1);
    what = 'last DATA=END removed';
  } else if (n === 11) {
    const bytes = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    const at = randInt(r, bytes.length + 1);
    return { data: Buffer.concat([bytes.subarray(0, at), randBytes(r, 1 + randInt(r, 64)), bytes.subarray(at)]), what: `binary garbage at byte ${at}` };
  } else if (n === 12) {
    const bytes = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    const at = randInt(r, bytes.length);
    return { data: bytes.subarray(0, at), what: `truncated at byte ${at}` };
  } else if (n === 13) {
    return { data: Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8'), what: 'CRLF line ends' };
  } else if (n === 14) {
    return { data: Buffer.from(lines.join('\n'), 'utf8'), what: 'no final newline' };
  } else {
    const at = randInt(r, line.length + 1);
    lines[i] = `${line.slice(0, at)}${pick(r, ['\u0000', '\u00ff', '\r', '=', '==', '\\'])}${line.slice(at)}`;
    what = `line ${i + 1} odd byte at column ${at + 1}`;
  }
  return { data: Buffer.from(`${lines.join('\n')}${last === undefined ? '' : '\n'}`, 'utf8'), what };
}

function options(r: R): DumpParserOptions {
  const o: DumpParserOptions = {};
  const k = randInt(r, 8);
  if (k === 0) o.type = pick(r, DUMP_TYPES);
  if (k === 1) o.overrides = [pick(r, ['keys=1', 'duplicates=1', 'dupsort=1', 're_len=4', 'database=over', 'db_pagesize=512', 'bt_minkey=2', 're_pad=0x20', 're_len=4294967295', 're_len=536870913'])];
  if (k === 2) {
    o.text = true;
    o.type = pick(r, DUMP_TYPES);
  }
  // Small limits, so that lines over the cap (refused while they stream in) and at it occur often.
  if (k === 3 || (k === 2 && randInt(r, 2) === 0)) o.limits = { key: randInt(r, 16), value: randInt(r, 40) };
  return o;
}

function parseAll(data: Buffer, opts: DumpParserOptions, r: R): number {
  const p = new DumpParser(opts);
  let events = 0;
  let at = 0;
  while (at < data.length) {
    const n = randInt(r, 3) === 0 ? 1 + randInt(r, 8) : 1 + randInt(r, 4096);
    events += p.write(data.subarray(at, at + n)).length;
    at += n;
  }
  return events + p.end().length;
}

function classify(e: unknown, cli: boolean): CaseOutcome {
  if (e instanceof CairnError) return { kind: 'typed', code: e.code };
  if (cli && e instanceof CliError) return { kind: 'typed', code: `CLI exit ${e.exitCode ?? '?'}` };
  const err = e as Error;
  return { kind: 'fail', message: `untyped ${err?.name ?? typeof e}: ${err?.message ?? String(e)}\n${err?.stack ?? ''}` };
}

async function load(home: string, input: string, file: string, opts: DumpParserOptions): Promise<CaseOutcome> {
  const before = snapshot(home);
  try {
    await runLoad({ home, file, input: dumpInput(input), parser: opts, noOverwrite: false, warn: () => {} });
    return { kind: 'ok' };
  } catch (e) {
    const outcome = classify(e, true);
    if (outcome.kind === 'typed') {
      const after = snapshot(home);
      const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
      if (changed.length > 0) return { kind: 'fail', message: `failed load (${(e as Error).message}) changed files on disk: ${changed.join(', ')}` };
      if ((e as Error).message.includes('\n')) return { kind: 'fail', message: `error message is not one line: ${JSON.stringify((e as Error).message)}` };
    }
    return outcome;
  }
}

async function main(job: DumpFuzzJob): Promise<void> {
  const guard = guardAllocations(MAX_ALLOC);
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const vectors = fs.readdirSync(VECTORS).filter((f) => f.endsWith('.dump')).sort().map((f) => fs.readFileSync(path.join(VECTORS, f), 'utf8'));
  const stats = newStats();
  const home = tmpDir('loadfuzz');
  const input = path.join(home, '..', `${path.basename(home)}.input`);
  try {
    for (const seed of job.seeds) {
      for (let i = job.only ?? 0; i < (job.only !== undefined ? job.only + 1 : job.cases); i++) {
        const r = rng(seed * 1_000_003 + i);
        const base = randInt(r, 3) === 0 && vectors.length > 0 ? pick(r, vectors) : generate(r);
        const steps: string[] = [];
        let data = Buffer.from(base, 'utf8');
        const count = 1 + (randInt(r, 3) === 0 ? 1 + randInt(r, 2) : 0);
        for (let s = 0; s < count; s++) {
          const m = mutate(r, data.toString('latin1'));
          data = Buffer.from(m.data.toString('latin1'), 'latin1');
          steps.push(m.what);
        }
        const opts = options(r);
        const viaLoad = i % job.loadEvery === 0;
        const what = `case ${i} (CAIRN_SEED=${seed} CAIRN_FUZZ_CASE=${i}; options ${JSON.stringify(opts)}${viaLoad ? ', runLoad' : ''}): ${steps.join('; ')}`;
        post({ t: 'case', what });
        guard.reset();
        const t0 = performance.now();
        let outcome: CaseOutcome;
        try {
          parseAll(data, opts, r);
          outcome = { kind: 'ok' };
        } catch (e) {
          outcome = classify(e, false);
        }
        if (viaLoad && outcome.kind !== 'fail') {
          fs.writeFileSync(input, data);
          outcome = await load(home, input, `fuzz${i % 7}.db`, opts);
        }
        if (guard.tripped !== undefined) outcome = { kind: 'fail', message: guard.tripped };
        tally(stats, what, outcome, performance.now() - t0);
        if (stats.failures.length >= 20) break;
      }
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(input, { force: true });
  }
  stats.maxAlloc = guard.max;
  post({ t: 'done', stats });
}

if (parentPort !== null && (workerData as { dump?: DumpFuzzJob } | undefined)?.dump !== undefined) {
  await main((workerData as { dump: DumpFuzzJob }).dump);
}
