// Worker side of the structure-aware fuzzer of opening and recovery (src/env/fuzz.test.ts).
//
// Base images: one small environment (512-byte pages, 32 KiB log files: several levels of
// branches, overflow keys, values and separators, named and duplicate databases, a checkpoint,
// several log files), closed cleanly, and the same environment crashed before close (its
// control file says `open`, so a normal open runs recovery). Each case takes one image, applies
// one to three mutations that keep every checksum valid — the control file's crc, a log file
// header's crc, each log record's crc salted with its LSN (records re-laid out and the next
// file's prevEnd fixed after a length change), a data page's crc — so the input gets past the
// checksum checks to the parsers behind them. Then it runs the operations and the oracle
// described at "one case" below; anything else than a correct answer or a CairnError (a
// TypeError, RangeError, an internal assertion, an allocation past the bound, a wrong answer,
// a write that damaged another database) is a failure, with a one-line classification.

import { parentPort, workerData } from 'node:worker_threads';
import { SimVfs } from '../io/sim.js';
import { Environment } from '../env/environment.js';
import { CONTROL_FILE } from '../env/control.js';
import { CairnError } from '../util/errors.js';
import { rng, randInt, randBytes } from '../util/random.js';
import { zlib } from '../util/node.js';
import { LOG_HEADER_SIZE, RECORD_HEADER_SIZE, recordChecksum, parseLogFileName, logFileName } from '../log/file.js';
import { RECORD_TABLE, recordName, type FieldKind } from '../log/records.js';
import { guardAllocations, interesting, type CaseOutcome, type ResumableMessage } from './fuzzkit.js';
import type { CliIo } from '../cli/main.js';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const HOME = '/env';
export const PAGE_SIZE = 512;
export const LOG_SIZE = 32 * 1024;
/** Largest Buffer a case may allocate: the largest file in the images is a 32 KiB log. */
export const MAX_ALLOC = 16 * 1024 * 1024;

export interface EnvFuzzJob {
  seeds: number[];
  cases: number;
  /** Only this case of each seed (replay). */
  only?: number;
  /** Run the tools on every n-th case (and on each baseline case); the library on every case. */
  toolsEvery?: number;
}

type Files = Map<string, Buffer>;
type R = () => number;

/**
 * Where an absolute file name in a crafted log record points: the fuzz run's temporary
 * directory (which holds the real home as h/ and two sentinel files), never a path of the
 * machine — recovery may create, overwrite, remove or rename what a record names (F5).
 */
let escapeDir = '/cairn-fuzz-nowhere';
const SENTINELS = ['escape.db', 'abs.db'];

// ---- base images ---------------------------------------------------------------------------

/** Every value each key ever held, per database ('file\0name'), as hex: the oracle's history. */
export type History = Map<string, Map<string, Set<string>>>;

export function dbKey(file: string, name: string): string {
  return `${file}\0${name}`;
}

function remember(h: History, file: string, name: string, k: string, v: string): void {
  const d = h.get(dbKey(file, name)) ?? new Map<string, Set<string>>();
  h.set(dbKey(file, name), d);
  const kk = Buffer.from(k).toString('hex');
  const s = d.get(kk) ?? new Set<string>();
  d.set(kk, s);
  s.add(Buffer.from(v).toString('hex'));
}

export async function buildImages(): Promise<{ closed: Files; crashed: Files; history: History; final: Map<string, string[]> }> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  const history: History = new Map();
  const env = await Environment.open(HOME, { create: true, vfs, logFileSize: LOG_SIZE, pageSize: PAGE_SIZE, checkpoint: false });
  const plain = await env.openDatabase('a.db', { create: true, name: 'plain' });
  const dups = await env.openDatabase('a.db', { create: true, name: 'dups', duplicates: 'sorted' });
  const big = await env.openDatabase('b.db', { create: true });
  for (let i = 0; i < 120; i++) {
    const k = `key${String(i * 7).padStart(5, '0')}`;
    const v = i % 10 === 3 ? `v${i}`.repeat(200) : `value-${i}`;
    await plain.put(k, v);
    remember(history, 'a.db', 'plain', k, v);
    if (i % 3 === 0) {
      await dups.put(`d${i % 9}`, `dup-${i}`);
      remember(history, 'a.db', 'dups', `d${i % 9}`, `dup-${i}`);
    }
    if (i % 12 === 0) {
      await big.put(`${'long-key-'.repeat(20)}${i}`, `big-${i}-`.repeat(150));
      remember(history, 'b.db', '', `${'long-key-'.repeat(20)}${i}`, `big-${i}-`.repeat(150));
    }
    if (i === 60) await env.checkpoint();
    if (i === 40 || i === 90) {
      // file_create, file_rename and file_remove records, before and after the checkpoint
      const tmp = await env.openDatabase('c.db', { create: true });
      await tmp.put('c', 'c');
      await env.renameDatabase('c.db', undefined, 'd.db');
      await env.removeDatabase('d.db');
    }
  }
  for (let i = 0; i < 120; i += 5) await plain.del(`key${String(i * 7).padStart(5, '0')}`);
  const final = new Map<string, string[]>();
  for (const [file, name, db] of [['a.db', 'plain', plain], ['a.db', 'dups', dups], ['b.db', '', big]] as const) {
    final.set(dbKey(file, name), [...db.range()].map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`));
  }
  const crashed = vfs.crash({ seed: 1, mode: 'keep' }).snapshotFiles();
  await env.close();
  return { closed: vfs.snapshotFiles(), crashed, history, final };
}

// ---- control file --------------------------------------------------------------------------

function writeControlText(json: string): Buffer {
  const crc = zlib.crc32(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0');
  return Buffer.from(`${json}\ncrc32 ${crc}\n`, 'utf8');
}

export function mutateControl(r: R, data: Buffer): { data: Buffer; what: string } {
  const json = data.toString('utf8').split('\n')[0]!;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = {}; // an earlier mutation of this case left text that is not JSON
  }
  const c = (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {}) as Record<string, unknown>;
  const keys = Object.keys(c).length > 0 ? Object.keys(c) : ['version'];
  const n = randInt(r, 10);
  if (n === 0) {
    const texts = ['', '{}', '[]', 'null', '1', '"open"', json.slice(0, randInt(r, json.length)), `${json}x`, '{"version":1}'];
    const t = texts[randInt(r, texts.length)]!;
    return { data: writeControlText(t), what: `control text ${JSON.stringify(t.slice(0, 40))}` };
  }
  const key = n === 1 ? `extra${randInt(r, 3)}` : keys[randInt(r, keys.length)]!;
  if (n === 2) {
    delete c[key];
    return { data: writeControlText(JSON.stringify(c)), what: `control without ${key}` };
  }
  const lsns = ['redo', 'checkpoint', 'end'].map((k) => c[k]).filter((v): v is number => typeof v === 'number');
  const orig = typeof c[key] === 'number' ? (c[key] as number) : 0;
  const values: unknown[] = [
    -1, 0, 1, 1.5, 64, 2 ** 32, 2 ** 32 + 64, 2 ** 53, 2 ** 64, 1e308, null, true, 'x', '', [], {}, 'open', 'closed', 'recovering',
    'normal', 'catastrophic', '00000000000000000000000000000000', 'zz', orig + 1, orig - 1, orig + 2 ** 32, orig * 2,
    lsns[randInt(r, lsns.length)] ?? 0, (Math.floor(orig / 2 ** 32) + 1) * 2 ** 32 + 64,
  ];
  const v = values[randInt(r, values.length)];
  c[key] = v;
  return { data: writeControlText(JSON.stringify(c)), what: `control ${key}=${JSON.stringify(v)}` };
}

// ---- log files -----------------------------------------------------------------------------

interface LogImage {
  header: Buffer;
  bodies: Buffer[];
  size: number;
}

function parseLog(fileNo: number, data: Buffer): LogImage {
  const bodies: Buffer[] = [];
  let at = LOG_HEADER_SIZE;
  while (at + RECORD_HEADER_SIZE <= data.length) {
    const len = data.readUInt32LE(at);
    if (len === 0 || at + RECORD_HEADER_SIZE + len > data.length) break;
    const body = data.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + len);
    if (data.readUInt32LE(at + 4) !== recordChecksum(fileNo, at, body)) break;
    bodies.push(Buffer.from(body));
    at += RECORD_HEADER_SIZE + len;
  }
  return { header: Buffer.from(data.subarray(0, LOG_HEADER_SIZE)), bodies, size: data.length };
}

/** Lays the records out again from offset 64 with fresh salted checksums; returns the file and where records end. */
function layoutLog(fileNo: number, img: LogImage): { data: Buffer; end: number } {
  const data = Buffer.alloc(img.size);
  img.header.copy(data, 0);
  let at = LOG_HEADER_SIZE;
  for (const body of img.bodies) {
    if (at + RECORD_HEADER_SIZE + body.length > data.length) break;
    data.writeUInt32LE(body.length, at);
    data.writeUInt32LE(recordChecksum(fileNo, at, body), at + 4);
    body.copy(data, at + RECORD_HEADER_SIZE);
    at += RECORD_HEADER_SIZE + body.length;
  }
  return { data, end: at };
}

function sealLogHeader(h: Buffer): void {
  h.writeUInt32LE(zlib.crc32(h.subarray(0, 60)), 60);
}

/** Byte offsets of a record body's fields, from the record table. */
function fieldOffsets(body: Buffer): Array<{ name: string; kind: FieldKind; at: number }> {
  const type = recordName(body[0]!);
  if (type === undefined) return [];
  const out: Array<{ name: string; kind: FieldKind; at: number }> = [];
  let at = 1;
  for (const [name, kind] of Object.entries(RECORD_TABLE[type].fields) as Array<[string, FieldKind]>) {
    if (at > body.length) break;
    out.push({ name, kind, at });
    if (kind === 'u32') at += 4;
    else if (kind === 'lsn' || kind === 'time') at += 8;
    else at += 4 + (at + 4 <= body.length ? body.readUInt32LE(at) : 0);
  }
  return out;
}

function interestingLsn(r: R, lsns: number[], orig: number): number {
  const k = randInt(r, 6);
  if (k === 0 && lsns.length > 0) return lsns[randInt(r, lsns.length)]!;
  if (k === 1) return orig + [1, -1, 8, -8][randInt(r, 4)]!;
  if (k === 2) return (Math.floor(orig / 2 ** 32) + [1, -1, 100][randInt(r, 3)]!) * 2 ** 32 + (orig % 2 ** 32);
  return interesting(r, 32) * 2 ** 32 + interesting(r, 32);
}

function setLsn(b: Buffer, at: number, v: number): void {
  if (v < 0) v = 0;
  b.writeUInt32LE(Math.floor(v / 2 ** 32) % 2 ** 32, at);
  b.writeUInt32LE(v % 2 ** 32, at + 4);
}

function mutateBody(r: R, body: Buffer, lsns: number[]): { body: Buffer; what: string } {
  const fields = fieldOffsets(body);
  const n = randInt(r, 12);
  if (n === 0 || fields.length === 0) {
    const b = Buffer.from(body);
    const codes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 255];
    b[0] = codes[randInt(r, codes.length)]!;
    return { body: b, what: `type ${body[0]}→${b[0]}` };
  }
  if (n === 1) {
    const cut = randInt(r, body.length);
    return { body: Buffer.from(body.subarray(0, Math.max(1, cut))), what: `body cut to ${Math.max(1, cut)} bytes` };
  }
  if (n === 2) return { body: Buffer.concat([body, randBytes(r, 1 + randInt(r, 16))]), what: 'body extended' };
  // names and times: the fields a crafted record is most likely to abuse, half the time when present
  const special = fields.filter((x) => x.kind === 'str' || x.kind === 'time');
  const f = special.length > 0 && randInt(r, 2) === 0 ? pick(r, special) : fields[randInt(r, fields.length)]!;
  const b = Buffer.from(body);
  const room = (k: number) => f.at + k <= b.length;
  switch (f.kind) {
    case 'u32': {
      if (!room(4)) break;
      const v = interesting(r, 32, b.readUInt32LE(f.at));
      b.writeUInt32LE(v, f.at);
      return { body: b, what: `${recordName(b[0]!)}.${f.name}=${v}` };
    }
    case 'lsn': {
      if (!room(8)) break;
      const orig = b.readUInt32LE(f.at) * 2 ** 32 + b.readUInt32LE(f.at + 4);
      const v = interestingLsn(r, lsns, orig);
      setLsn(b, f.at, v);
      return { body: b, what: `${recordName(b[0]!)}.${f.name}=[${Math.floor(v / 2 ** 32)}][${v % 2 ** 32}]` };
    }
    case 'time': {
      if (!room(8)) break;
      const v = [NaN, Infinity, -Infinity, -1, 0, 1e300, -0, 2 ** 53][randInt(r, 8)]!;
      b.writeDoubleLE(v, f.at);
      return { body: b, what: `${recordName(b[0]!)}.${f.name}=${v}` };
    }
    case 'bytes':
    case 'str': {
      if (!room(4)) break;
      const len = b.readUInt32LE(f.at);
      const k = randInt(r, 4);
      if (k === 0) {
        const v = interesting(r, 32, len);
        b.writeUInt32LE(v, f.at);
        return { body: b, what: `${recordName(b[0]!)}.${f.name} length ${len}→${v}` };
      }
      const start = f.at + 4;
      const end = Math.min(b.length, start + len);
      const content = Buffer.from(b.subarray(start, end));
      let next: Buffer;
      if (f.name === 'image' && content.length >= 32) {
        next = content;
        mutatePage(r, next, 0, false);
      } else if (f.name === 'ranges' && content.length >= 8) {
        next = content;
        const at = 8 * randInt(r, Math.min(4, content.length >> 3));
        next.writeUInt32LE(interesting(r, 32, next.readUInt32LE(at + (k & 1) * 4)), at + (k & 1) * 4);
      } else if (f.kind === 'str') {
        const texts = ['', '.', '..', '../escape.db', `${escapeDir}/abs.db`, 'sub/x.db', 'a.db', 'b.db', 'x\n1 y', '4294967295 a.db\nzz', '\u0000', 'é', '1 a.db\n1 b.db\n'];
        next = k === 1 ? randBytes(r, randInt(r, 12)) : Buffer.from(texts[randInt(r, texts.length)]!, 'utf8');
      } else {
        next = randBytes(r, [0, 1, 31, 32, PAGE_SIZE - 1, PAGE_SIZE, PAGE_SIZE + 1][randInt(r, 7)]!);
      }
      const out = Buffer.concat([b.subarray(0, f.at), Buffer.alloc(4), next, b.subarray(end)]);
      out.writeUInt32LE(next.length, f.at);
      return { body: out, what: `${recordName(b[0]!)}.${f.name} content (${next.length} bytes)` };
    }
  }
  return { body: b, what: 'no change' };
}

function mutateLog(r: R, files: Files, logs: string[]): string {
  const p = logs[randInt(r, logs.length)]!;
  const fileNo = parseLogFileName(p.slice(p.lastIndexOf('/') + 1))!;
  const data = files.get(p)!;
  const img = parseLog(fileNo, data);
  let fixPrevEnd = randInt(r, 10) !== 0;
  let what: string;
  const n = randInt(r, 10);
  if (n === 0 || img.bodies.length === 0) {
    // the file header
    const h = img.header;
    const fields: Array<[string, number]> = [['version', 8], ['fileNo', 12], ['fileSize', 16], ['envId', 20], ['prevEnd', 36], ['history', 40], ['history', 44], ['parent', 48], ['parent', 52], ['reserved', 56]];
    const [name, at] = fields[randInt(r, fields.length)]!;
    const v = interesting(r, 32, h.readUInt32LE(at));
    h.writeUInt32LE(v, at);
    sealLogHeader(h);
    what = `${p} header ${name}=${v}`;
    fixPrevEnd = false;
  } else if (n <= 6) {
    let i = randInt(r, img.bodies.length);
    // A third of the time a rare record type: file_create/file_remove/file_rename (names, F5) or a commit (times, F14).
    if (randInt(r, 3) === 0) {
      const rare = img.bodies.flatMap((b, k) => (b[0]! >= 3 && b[0]! <= 6 ? [k] : []));
      if (rare.length > 0) i = pick(r, rare);
    }
    const lsns: number[] = [];
    let at = LOG_HEADER_SIZE;
    for (const b of img.bodies) {
      lsns.push(fileNo * 2 ** 32 + at);
      at += RECORD_HEADER_SIZE + b.length;
    }
    const m = mutateBody(r, img.bodies[i]!, lsns);
    img.bodies[i] = m.body;
    what = `${p} record ${i}: ${m.what}`;
  } else if (n === 7) {
    const i = randInt(r, img.bodies.length);
    const op = randInt(r, 3);
    if (op === 0) img.bodies.splice(i, 1);
    else if (op === 1) img.bodies.splice(i, 0, img.bodies[randInt(r, img.bodies.length)]!);
    else if (i + 1 < img.bodies.length) [img.bodies[i], img.bodies[i + 1]] = [img.bodies[i + 1]!, img.bodies[i]!];
    what = `${p} record ${i} ${['deleted', 'duplicated', 'swapped with the next'][op]}`;
  } else {
    // a record header's length field, re-checksummed over the bytes it now claims
    const { data: laid } = layoutLog(fileNo, img);
    let at = LOG_HEADER_SIZE;
    const i = randInt(r, img.bodies.length);
    for (let k = 0; k < i; k++) at += RECORD_HEADER_SIZE + img.bodies[k]!.length;
    const len = interesting(r, 32, laid.readUInt32LE(at));
    laid.writeUInt32LE(len, at);
    if (len > 0 && at + RECORD_HEADER_SIZE + len <= laid.length) {
      laid.writeUInt32LE(recordChecksum(fileNo, at, laid.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + len)), at + 4);
    }
    files.set(p, laid);
    return `${p} record ${i} length=${len}`;
  }
  const { data: out, end } = layoutLog(fileNo, img);
  files.set(p, out);
  const next = p.replace(/log\.\d{10}$/, logFileName(fileNo + 1));
  if (fixPrevEnd && files.has(next)) {
    const nd = Buffer.from(files.get(next)!);
    nd.writeUInt32LE(end, 36);
    sealLogHeader(nd);
    files.set(next, nd);
  }
  return what;
}

// ---- data pages ----------------------------------------------------------------------------

function pick<T>(r: R, xs: readonly T[]): T {
  return xs[randInt(r, xs.length)]!;
}

/** A page number worth pointing at: none, itself, the root, a real page, past the end, huge. */
function interestingPgno(r: R, self: number, pages: number): number {
  return pick(r, [0, 1, 2, self, self + 1, Math.max(0, self - 1), randInt(r, Math.max(1, pages)), pages, pages + 1, 0x7fffffff, 0xffffffff, interesting(r, 32)]);
}

/**
 * Mutates one structural field of a page in place (header, meta, slots, cells, overflow refs,
 * chain links). `seal`: recompute the page checksum (a data file page; log images have none).
 */
function mutatePage(r: R, p: Buffer, pages: number, seal: boolean): string {
  const pgno = p.readUInt32LE(12);
  const type = p[20]!;
  const w32 = (at: number, v: number) => {
    if (at + 4 <= p.length) p.writeUInt32LE(v >>> 0, at);
  };
  const w16 = (at: number, v: number) => {
    if (at + 2 <= p.length) p.writeUInt16LE(v & 0xffff, at);
  };
  let what: string;
  const n = randInt(r, 10);
  if (n === 0) {
    const field = pick(r, [[20, 'type'], [21, 'flags']] as const);
    const v = pick(r, [0, 1, 2, 3, 4, 5, 255, p[field[0]]! ^ 1]);
    p[field[0]] = v;
    what = `${field[1]}=${v}`;
  } else if (n === 1) {
    const v = interesting(r, 16, p.readUInt16LE(22));
    w16(22, v);
    what = `count=${v}`;
  } else if (n === 2) {
    const at = pick(r, [24, 28]);
    const v = type === 4 && at === 28 ? interesting(r, 32, p.readUInt32LE(28)) : interestingPgno(r, pgno, pages);
    w32(at, v);
    what = `${at === 24 ? 'next' : 'prev'}=${v}`;
  } else if (type === 1) {
    const field = pick(r, [[40, 'version'], [44, 'pageSize'], [64, 'pageCount'], [68, 'freeHead'], [72, 'catalogRoot']] as const);
    const v = field[1] === 'pageSize' ? pick(r, [0, 1, 256, 511, 512, 1024, 4096, 65536, 2 ** 31, 0xffffffff]) : field[1] === 'version' ? interesting(r, 32, 1) : interestingPgno(r, 1, pages);
    w32(field[0], v);
    what = `meta ${field[1]}=${v}`;
  } else if (type === 2 || type === 3) {
    const count = p.readUInt16LE(22);
    const k = randInt(r, 8);
    if (k === 0) {
      const v = interesting(r, 16, p.readUInt16LE(32));
      w16(32, v);
      what = `upper=${v}`;
    } else if (k === 1) {
      const v = interesting(r, 16, p.readUInt16LE(34));
      w16(34, v);
      what = `frag=${v}`;
    } else if (count === 0) {
      w16(36, interesting(r, 16));
      what = 'slot 0 of an empty page';
    } else {
      const i = randInt(r, count);
      const so = 36 + 2 * i;
      const off = so + 2 <= p.length ? p.readUInt16LE(so) : 0;
      if (k === 2) {
        const v = pick(r, [0, 36, so, off + 1, off - 1, p.length - 1, p.length, interesting(r, 16, off), 36 + 2 * count < p.length ? p.readUInt16LE(36 + 2 * randInt(r, count)) : 0]);
        w16(so, v);
        what = `slot ${i}=${v}`;
      } else if (off + 8 > p.length) {
        what = `slot ${i} out of range, no cell change`;
      } else if (type === 2) {
        const kk = randInt(r, 4);
        if (kk <= 1) {
          const v = interestingPgno(r, pgno, pages);
          w32(off, v);
          what = `branch cell ${i} child=${v}`;
        } else if (kk === 2) {
          const v = pick(r, [0, 1, 2, 3, 255]);
          p[off + 4] = v;
          what = `branch cell ${i} flags=${v}`;
        } else {
          const v = interesting(r, 16, p.readUInt16LE(off + 5));
          w16(off + 5, v);
          what = `branch cell ${i} klen=${v}`;
        }
        if (p[off + 4] === 1 && randInt(r, 2) === 0) {
          const ro = off + 7 + p.readUInt16LE(off + 5);
          const v = randInt(r, 2) === 0 ? interesting(r, 32, ro + 4 <= p.length ? p.readUInt32LE(ro) : 0) : interestingPgno(r, pgno, pages);
          w32(ro + (v === undefined ? 0 : randInt(r, 2) * 4), v);
          what += `; separator overflow ref=${v}`;
        }
      } else {
        const fl = p[off]!;
        const kk = randInt(r, 4);
        if (kk === 0) {
          const v = pick(r, [0, 1, 2, 3, 4, 255]);
          p[off] = v;
          what = `leaf cell ${i} flags=${v}`;
        } else if (kk === 1) {
          const at = off + 1 + 2 * randInt(r, 2);
          const v = interesting(r, 16, p.readUInt16LE(at));
          w16(at, v);
          what = `leaf cell ${i} ${at === off + 1 ? 'klen' : 'vlen'}=${v}`;
        } else if (fl === 0) {
          p[off + 5 + randInt(r, 4)] ^= 1 << randInt(r, 8);
          what = `leaf cell ${i} key/value byte`;
        } else {
          // an overflow reference: total length or first page
          const kin = p.readUInt16LE(off + 1);
          const vin = p.readUInt16LE(off + 3);
          const refs: number[] = [];
          if (fl & 1) refs.push(off + 5 + kin + vin);
          if (fl & 2) refs.push(off + 5 + kin + vin + (fl & 1 ? 8 : 0));
          const ro = pick(r, refs);
          if (kk === 2) {
            const v = pick(r, [0, kin, kin + 1, 0xffffffff, 0x7fffffff, 0x80000000, 64 * 1024 * 1024, interesting(r, 32, ro + 4 <= p.length ? p.readUInt32LE(ro) : 0)]);
            w32(ro, v);
            what = `leaf cell ${i} overflow length=${v}`;
          } else {
            const v = interestingPgno(r, pgno, pages);
            w32(ro + 4, v);
            what = `leaf cell ${i} overflow first page=${v}`;
          }
        }
      }
    }
  } else if (type === 4) {
    const v = randInt(r, 2) === 0 ? interesting(r, 32, p.readUInt32LE(28)) : interestingPgno(r, pgno, pages);
    w32(randInt(r, 2) === 0 ? 28 : 24, v);
    what = `overflow link/length=${v}`;
  } else {
    p[32 + randInt(r, p.length - 32)] ^= 1 << randInt(r, 8);
    what = 'body byte';
  }
  if (seal) p.writeUInt32LE(zlib.crc32(p.subarray(4)), 0);
  return `page ${pgno} (type ${type}) ${what}`;
}

function mutateData(r: R, files: Files, dataFiles: string[]): string {
  const p = pick(r, dataFiles);
  const data = Buffer.from(files.get(p)!);
  const pages = data.length / PAGE_SIZE;
  files.set(p, data);
  const k = randInt(r, 12);
  if (k === 0 && pages > 2) {
    // one page copied over another, identity fixed: a child reached twice, a cycle, a stale sibling
    const from = randInt(r, pages);
    const to = 1 + randInt(r, pages - 1);
    data.copy(data, to * PAGE_SIZE, from * PAGE_SIZE, (from + 1) * PAGE_SIZE);
    const pg = data.subarray(to * PAGE_SIZE, (to + 1) * PAGE_SIZE);
    pg.writeUInt32LE(to, 12);
    pg.writeUInt32LE(zlib.crc32(pg.subarray(4)), 0);
    return `${p} page ${from} copied over page ${to}`;
  }
  // Prefer pages that carry structure: meta, branches, overflow pages, then leaves.
  let pgno = randInt(r, pages);
  for (let tries = 0; tries < 4 && randInt(r, 3) === 0; tries++) {
    if (data[pgno * PAGE_SIZE + 20] !== 3) break;
    pgno = randInt(r, pages);
  }
  if (k === 1) pgno = 0;
  if (k === 2) {
    // a catalog descriptor's root, same number of digits (the catalog's own root, another database's, any page)
    for (let pg = 1; pg < pages; pg++) {
      const page = data.subarray(pg * PAGE_SIZE, (pg + 1) * PAGE_SIZE);
      if (page[20] !== 3) continue;
      const at = page.indexOf('"root":');
      if (at < 0) continue;
      let end = at + 7;
      while (end < page.length && page[end]! >= 0x30 && page[end]! <= 0x39) end++;
      const digits = end - at - 7;
      const lo = digits === 1 ? 0 : 10 ** (digits - 1);
      const v = String(pick(r, [1, 2, 3, lo, 10 ** digits - 1, lo + randInt(r, 10 ** digits - lo)].filter((x) => String(x).length === digits)));
      page.write(v, at + 7, 'latin1');
      page.writeUInt32LE(zlib.crc32(page.subarray(4)), 0);
      return `${p} page ${pg} catalog descriptor root=${v}`;
    }
  }
  if (k === 3 && pgno !== 0) {
    // the page header fields the other mutations leave alone: LSN, file uid; or the meta page's environment id and needsLog
    const page = data.subarray(pgno * PAGE_SIZE, (pgno + 1) * PAGE_SIZE);
    const field = pick(r, ['lsn', 'uid'] as const);
    if (field === 'lsn') setLsn(page, 4, interestingLsn(r, [], page.readUInt32LE(4) * 2 ** 32 + page.readUInt32LE(8)));
    else page.writeUInt32LE(interesting(r, 32, page.readUInt32LE(16)), 16);
    page.writeUInt32LE(zlib.crc32(page.subarray(4)), 0);
    return `${p} page ${pgno} (type ${page[20]}) header ${field}`;
  }
  if (k === 4) {
    const page = data.subarray(0, PAGE_SIZE);
    const field = pick(r, ['envId', 'needsLog', 'lsn', 'uid'] as const);
    if (field === 'envId') page[48 + randInt(r, 16)] ^= 1 << randInt(r, 8);
    else if (field === 'needsLog') setLsn(page, 76, interestingLsn(r, [], page.readUInt32LE(76) * 2 ** 32 + page.readUInt32LE(80)));
    else if (field === 'lsn') setLsn(page, 4, interestingLsn(r, [], page.readUInt32LE(4) * 2 ** 32 + page.readUInt32LE(8)));
    else page.writeUInt32LE(interesting(r, 32, page.readUInt32LE(16)), 16);
    page.writeUInt32LE(zlib.crc32(page.subarray(4)), 0);
    return `${p} page 0 meta ${field}`;
  }
  const page = data.subarray(pgno * PAGE_SIZE, (pgno + 1) * PAGE_SIZE);
  return `${p} ${mutatePage(r, page, pages, true)}`;
}

/** The page LSN map (__cairn.pages): its count, a file id, a page count, an LSN; crc recomputed. */
function mutatePageMap(r: R, data: Buffer): { data: Buffer; what: string } {
  const b = Buffer.from(data);
  if (b.length < 40) return { data: b, what: 'page map (too short to mutate)' };
  const n = randInt(r, 4);
  let what: string;
  if (n === 0) {
    const v = interesting(r, 32, b.readUInt32LE(12));
    b.writeUInt32LE(v, 12);
    what = `page map file count=${v}`;
  } else if (n === 1 && b.length >= 48) {
    const at = 40 + 4 * randInt(r, 2);
    const v = interesting(r, 32, b.readUInt32LE(at));
    b.writeUInt32LE(v, at);
    what = `page map first file ${at === 40 ? 'id' : 'page count'}=${v}`;
  } else if (n === 2) {
    setLsn(b, 32, interestingLsn(r, [], b.readUInt32LE(32) * 2 ** 32 + b.readUInt32LE(36)));
    what = 'page map tag';
  } else {
    const at = 48 + 8 * randInt(r, Math.max(1, (b.length - 48) >> 3));
    if (at + 8 <= b.length) setLsn(b, at, interestingLsn(r, [], b.readUInt32LE(at) * 2 ** 32 + b.readUInt32LE(at + 4)));
    what = `page map lsn at ${at}`;
  }
  b.writeUInt32LE(zlib.crc32(b.subarray(12)), 8);
  return { data: b, what };
}

// ---- one case ------------------------------------------------------------------------------
//
// The operations (issue 21): the library's open (or normal/catastrophic recovery first), range
// and get of every database, count, verify, a put committed into one database, a checkpoint, a
// close and a reopen that reads everything again; then the tools in this thread through their
// main functions on a real copy of the damaged image: db_verify, db_dump (and db_dump -d),
// db_printlog, db_recover -c, and db_verify and db_dump again after it.
//
// The oracle, beyond "a typed error or success":
// - history: every (key, value) that get, range or db_dump returns must be one the database held
//   at some time (or the case's own put) — never bytes of another key or another database.
//   Mutations of content bytes (a leaf's key or value bytes or lengths, a log record's image or
//   range bytes, a record type or body length reinterpreting a body) are undetectable once the
//   checksum is recomputed, and are exempt.
// - exact: when only data pages were damaged, structurally (no log, control or content
//   mutation), whatever is read without an error equals the final model: no missing key, no
//   extra key.
// - writes: after an acknowledged (or refused) put, a checkpoint, a close and a reopen, every
//   other database read in full before the write reads the same, and the written key reads back
//   — or a typed error says why not.

/** A failed oracle: `klass` is the one-line classification. */
class Finding extends Error {
  constructor(readonly klass: string, detail: string) {
    super(`${klass}${detail === '' ? '' : `\n${detail}`}`);
  }
}

const CONTENT = /key\/value byte|body byte|content \(|type \d+→|body cut|body extended|klen=|vlen=/;

interface CaseCtx {
  index: number;
  history: History;
  final: Map<string, string[]>;
  /** The damage may change values (content) or what is committed (log, control). */
  historyOnly: boolean;
  /** Exempt from the history oracle (content mutations). */
  anyValue: boolean;
  typed: string[];
  step: (s: string) => void;
  tmp: string | undefined;
}

function allowed(c: CaseCtx, db: string, k: Buffer, v: Buffer, own: Map<string, string>): boolean {
  if (c.anyValue) return true;
  const kh = k.toString('hex');
  if (own.get(`${db}\0${kh}`) === v.toString('hex')) return true;
  return c.history.get(db)?.get(kh)?.has(v.toString('hex')) === true;
}

function describeDb(db: string): string {
  const [f, n] = db.split('\0');
  return n === '' ? f! : `${f}:${n}`;
}

function pairsText(pairs: string[]): string {
  return pairs.map((p) => Buffer.from(p.split('=')[0]!, 'hex').toString('latin1').slice(0, 40)).join(',');
}

/** Runs one operation: a CairnError is recorded and returned as undefined; anything else is a Finding. */
async function op<T>(c: CaseCtx, step: string, f: () => T | Promise<T>): Promise<T | undefined> {
  c.step(step);
  try {
    return await f();
  } catch (e) {
    if (e instanceof Finding) throw e;
    if (e instanceof CairnError) {
      c.typed.push(e.code);
      return undefined;
    }
    const err = e as Error;
    throw new Finding(`untyped ${err?.name ?? typeof e} in ${step}: ${String(err?.message ?? e).split('\n')[0]!.slice(0, 160)}`, err?.stack ?? '');
  }
}

/** Reads one database in full against the oracle; returns its pairs (hex k=v) or undefined after a typed error. */
async function readDb(c: CaseCtx, env: Environment, file: string, name: string, own: Map<string, string>, when: string): Promise<string[] | undefined> {
  const dk = dbKey(file, name);
  const label = `${describeDb(dk)} (${when})`;
  const db = await op(c, `openDatabase ${label}`, () => env.openDatabase(file, name === '' ? {} : { name }));
  if (db === undefined) return undefined;
  const pairs = await op(c, `range ${label}`, () => {
    const out: string[] = [];
    for (const [k, v] of db.range()) {
      if (!allowed(c, dk, k, v, own)) throw new Finding(`wrong-data range ${describeDb(dk)}`, `key ${k.toString('latin1').slice(0, 60)} value ${v.toString('latin1').slice(0, 60)} is not one this database ever held`);
      out.push(`${k.toString('hex')}=${v.toString('hex')}`);
      if (out.length > 100_000) throw new Finding(`unbounded range ${describeDb(dk)}`, 'more than 100,000 pairs from a database of 120');
    }
    return out;
  });
  await op(c, `get ${label}`, () => {
    const keys = new Set([...(pairs ?? []), ...(c.final.get(dk) ?? [])].map((p) => p.split('=')[0]!));
    for (const kh of keys) {
      const k = Buffer.from(kh, 'hex');
      const v = db.get(k);
      if (v !== undefined && !allowed(c, dk, k, v, own)) throw new Finding(`wrong-data get ${describeDb(dk)}`, `key ${k.toString('latin1').slice(0, 60)} gave a value this database never held`);
      if (!c.historyOnly && when === 'first read') {
        const want = c.final.get(dk)?.find((p) => p.startsWith(`${kh}=`));
        if (want !== undefined && v === undefined) throw new Finding(`missing-key get ${describeDb(dk)}`, `get(${k.toString('latin1').slice(0, 60)}) returned undefined for a key the database holds`);
      }
    }
  });
  await op(c, `count ${label}`, () => db.count());
  await op(c, `verify ${label}`, () => db.verify());
  if (pairs !== undefined && !c.historyOnly && when === 'first read') {
    const want = c.final.get(dk) ?? [];
    if (pairs.join() !== want.join()) {
      const missing = want.filter((p) => !pairs.includes(p));
      const extra = pairs.filter((p) => !want.includes(p));
      throw new Finding(`${missing.length > 0 ? 'missing-key' : 'extra-key'} range ${describeDb(dk)}`, `read without an error but differs from the model: missing ${pairsText(missing)}; extra ${pairsText(extra)}`);
    }
  }
  return pairs;
}

async function exerciseLibrary(c: CaseCtx, vfs: SimVfs, action: string, r: R): Promise<void> {
  if (action === 'catastrophic' || action === 'normal') {
    const ok = await op(c, `recover ${action}`, () => Environment.recover(HOME, { vfs, catastrophic: action === 'catastrophic' }));
    if (ok === undefined) return;
  }
  const own = new Map<string, string>();
  const env = await op(c, 'open', () => Environment.open(HOME, { vfs, checkpoint: false }));
  if (env === undefined) return;
  const seen = new Map<string, string[]>();
  let closed = false;
  try {
    for (const file of ['a.db', 'b.db']) {
      const names = await op(c, `listDatabases ${file}`, () => env.listDatabases(file));
      for (const name of names ?? []) {
        const pairs = await readDb(c, env, file, name, own, 'first read');
        if (pairs !== undefined) seen.set(dbKey(file, name), pairs);
      }
    }
    // put + commit into one database; then checkpoint, close, reopen and read everything again
    const targets = [dbKey('a.db', 'plain'), dbKey('b.db', '')];
    const target = targets[randInt(r, 2)]!;
    const [tf, tn] = target.split('\0') as [string, string];
    const key = `fuzz-${c.index}`;
    const value = 'x'.repeat(randInt(r, 2) === 0 ? 10 : 700);
    const db = await op(c, `openDatabase ${describeDb(target)} (write)`, () => env.openDatabase(tf, tn === '' ? {} : { name: tn }));
    let acked = false;
    if (db !== undefined) {
      acked = (await op(c, `put+commit ${describeDb(target)}`, async () => {
        await db.put(key, value);
        return true;
      })) === true;
    }
    if (acked) own.set(`${target}\0${Buffer.from(key).toString('hex')}`, Buffer.from(value).toString('hex'));
    await op(c, 'checkpoint', () => env.checkpoint());
    closed = true;
    await op(c, 'close', () => env.close());
    const again = await op(c, 'reopen', () => Environment.open(HOME, { vfs, checkpoint: false }));
    if (again === undefined) return;
    try {
      for (const [dk, before] of seen) {
        const [f, n] = dk.split('\0') as [string, string];
        const after = await readDb(c, again, f, n, own, 'after the write');
        if (after === undefined) continue;
        const want = dk === target && acked ? [...before, `${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`].sort() : before;
        const got = dk === target ? [...after].sort() : after;
        if (got.join() !== want.join()) {
          const lost = want.filter((p) => !got.includes(p));
          const extra = got.filter((p) => !want.includes(p));
          throw new Finding(
            `${acked ? 'acknowledged' : 'refused'} write to ${describeDb(target)} changed ${dk === target ? 'its own database' : `another database (${describeDb(dk)})`}`,
            `read without an error after reopen: lost ${pairsText(lost)}; extra ${pairsText(extra)}`,
          );
        }
      }
    } finally {
      await op(c, 'close (reopened)', () => again.close());
    }
  } finally {
    if (!closed) await op(c, 'close', () => env.close());
  }
}

// ---- the tools, in this thread, on a real copy ----------------------------------------------

type ToolMain = (args: string[], io: CliIo) => Promise<number>;
const OUTPUT_CAP = 4 * 1024 * 1024;

class OutputTooLarge extends Error {}

async function tool(c: CaseCtx, mains: Record<string, ToolMain>, name: string, args: string[], label = name): Promise<{ code: number; out: string; stderr: string } | undefined> {
  c.step(label);
  const out: string[] = [];
  const err: string[] = [];
  let bytes = 0;
  const io: CliIo = {
    out: (t) => {
      bytes += t.length;
      if (bytes > OUTPUT_CAP) throw new OutputTooLarge();
      out.push(t);
    },
    err: (t) => void err.push(t),
    tty: false,
  };
  let code: number;
  try {
    code = await mains[name]!(args, io);
  } catch (e) {
    if (e instanceof Finding) throw e;
    if (e instanceof OutputTooLarge) throw new Finding(`unbounded output from ${label}`, `more than ${OUTPUT_CAP} bytes`);
    throw new Finding(`untyped ${(e as Error)?.name} thrown by ${label}: ${String((e as Error)?.message).split('\n')[0]}`, (e as Error)?.stack ?? '');
  }
  const stderr = err.join('');
  if (/OutputTooLarge/.test(stderr) || (bytes > OUTPUT_CAP)) throw new Finding(`unbounded output from ${label}`, `more than ${OUTPUT_CAP} bytes`);
  const bad = /internal error: (\w+)|\b(ERR_[A-Z_]+)\b|\b(TypeError|RangeError|SyntaxError)\b/.exec(stderr);
  if (bad !== null || (code !== 0 && code !== 1)) {
    throw new Finding(`${label} failed untyped (exit ${code}${bad !== null ? `, ${bad[1] ?? bad[2] ?? bad[3]}` : ''})`, stderr.slice(0, 2000));
  }
  if (code !== 0) c.typed.push(`${label} exit ${code}${process.env.CAIRN_FUZZ_DEBUG === "1" ? ` ${stderr.split("\n")[0]}` : ""}`);
  return { code, out: out.join(''), stderr };
}

/** db_dump bytevalue output → database name → pairs (hex k=v). */
function parseDump(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let name = '';
  let data: string[] | undefined;
  let pending: string | undefined;
  for (const line of text.split('\n')) {
    if (data === undefined) {
      if (line.startsWith('database=')) name = line.slice(9);
      else if (line === 'HEADER=END') data = [];
    } else if (line === 'DATA=END') {
      out.set(name, data);
      data = undefined;
      name = '';
    } else if (pending === undefined) pending = line.slice(1);
    else {
      data.push(`${pending}=${line.slice(1)}`);
      pending = undefined;
    }
  }
  return out;
}

async function checkDump(c: CaseCtx, mains: Record<string, ToolMain>, home: string, file: string, label: string, exact: boolean): Promise<void> {
  const run = await tool(c, mains, 'dump', ['-h', home, file], `${label} ${file}`);
  if (run === undefined) return;
  // A catastrophic recovery that succeeded leaves an environment that opens (F14: a NaN commit time made it unopenable).
  if (run.code !== 0 && label.includes('after db_recover') && /control file/.test(run.stderr)) {
    throw new Finding(`db_recover -c succeeded but left a control file that ${label} refuses`, run.stderr.split('\n')[0]!);
  }
  if (run.code !== 0) return;
  for (const [name, pairs] of parseDump(run.out)) {
    const dk = dbKey(file, name);
    for (const p of pairs) {
      const [kh, vh] = p.split('=') as [string, string];
      if (!allowed(c, dk, Buffer.from(kh, 'hex'), Buffer.from(vh, 'hex'), new Map())) {
        throw new Finding(`wrong-data ${label} ${describeDb(dk)}`, `key ${Buffer.from(kh, 'hex').toString('latin1').slice(0, 60)} with a value this database never held, exit 0`);
      }
    }
    if (exact && pairs.join() !== (c.final.get(dk) ?? []).join()) {
      throw new Finding(`missing-or-extra-key ${label} ${describeDb(dk)}`, `exit 0 but the dump differs from the model (${pairs.length} pairs, model ${(c.final.get(dk) ?? []).length})`);
    }
  }
}

async function exerciseTools(c: CaseCtx, mains: Record<string, ToolMain>, files: Files, exact: boolean, r: R): Promise<void> {
  const home = path.join(c.tmp!, 'h');
  c.step('copy to disk');
  fs.rmSync(home, { recursive: true, force: true });
  fs.mkdirSync(home);
  for (const [p, data] of files) {
    if (!p.startsWith(`${HOME}/`) || p.slice(HOME.length + 1).includes('/')) continue;
    fs.writeFileSync(path.join(home, p.slice(HOME.length + 1)), data);
  }
  for (const f of SENTINELS) fs.writeFileSync(path.join(c.tmp!, f), f);
  const outside = (step: string) => {
    const names = fs.readdirSync(c.tmp!).sort();
    const changed = SENTINELS.filter((f) => !names.includes(f) || fs.readFileSync(path.join(c.tmp!, f), 'latin1') !== f);
    const extra = names.filter((n) => n !== 'h' && !SENTINELS.includes(n));
    if (changed.length > 0 || extra.length > 0) throw new Finding(`file outside the home changed by ${step}`, `changed or removed: ${changed.join(', ')}; created: ${extra.join(', ')}`);
  };
  const home0 = fs.readdirSync(home);
  const inHome = (step: string) => {
    const subdirs = fs.readdirSync(home).filter((n) => !home0.includes(n) && fs.statSync(path.join(home, n)).isDirectory() && !n.startsWith('__cairn'));
    if (subdirs.length > 0) throw new Finding(`directory created in the home by ${step}`, subdirs.join(', '));
  };
  await tool(c, mains, 'verify', ['-q', '-h', home, 'a.db', 'b.db'], 'db_verify');
  for (const file of ['a.db', 'b.db']) await checkDump(c, mains, home, file, 'db_dump', exact);
  await tool(c, mains, 'dump', ['-d', pick(r, ['a', 'h', 'r']), '-h', home, pick(r, ['a.db', 'b.db'])], 'db_dump -d');
  await tool(c, mains, 'printlog', ['-h', home], 'db_printlog');
  outside('the read-only tools');
  const rec = await tool(c, mains, 'recover', ['-c', '-h', home], 'db_recover -c');
  outside('db_recover -c');
  inHome('db_recover -c');
  if (rec === undefined || rec.code !== 0) return;
  await tool(c, mains, 'verify', ['-q', '-h', home, 'a.db', 'b.db'], 'db_verify after db_recover -c');
  for (const file of ['a.db', 'b.db']) await checkDump(c, mains, home, file, 'db_dump after db_recover -c', exact);
}

async function main(job: EnvFuzzJob & { from?: number; tmp?: string }): Promise<void> {
  // Each open tries the coordination socket under HOME on the real file system (refused): say it once.
  const warn = process.emitWarning.bind(process);
  let socketWarned = false;
  process.emitWarning = ((w: string | Error, ...rest: never[]) => {
    if (String(w).includes('coordination channel')) {
      if (socketWarned) return;
      socketWarned = true;
    }
    warn(w, ...rest);
  }) as typeof process.emitWarning;
  const mains: Record<string, ToolMain> = {};
  for (const name of ['verify', 'dump', 'printlog', 'recover']) mains[name] = ((await import(`../cli/${name}.js`)) as { main: ToolMain }).main;
  const guard = guardAllocations(MAX_ALLOC);
  const post = (m: ResumableMessage) => parentPort!.postMessage(m);
  if (job.tmp !== undefined) escapeDir = job.tmp;
  const images = await buildImages();
  let g = 0;
  for (const seed of job.seeds) {
    for (let i = job.only ?? 0; i < (job.only !== undefined ? job.only + 1 : job.cases); i++, g++) {
      if (g < (job.from ?? 0)) continue;
      const r = rng(seed * 1_000_003 + i);
      const crashed = randInt(r, 3) === 0;
      const files = new Map(crashed ? images.crashed : images.closed);
      const names = [...files.keys()];
      const logs = names.filter((p) => /log\.\d{10}$/.test(p));
      const dataFiles = names.filter((p) => p.endsWith('.db'));
      const control = `${HOME}/${CONTROL_FILE}`;
      const steps: string[] = [];
      let historyOnly = false;
      const count = 1 + (randInt(r, 4) === 0 ? 1 + randInt(r, 2) : 0);
      const baseline = i % 100 === 99; // undamaged: everything must equal the model
      // A mutation that throws is this case's failure, named with its replay, not a worker that
      // dies "between cases" (NEW-D: mutateControl parsing an earlier mutation's non-JSON text).
      let broken: string | undefined;
      try {
        for (let s = 0; s < count && !baseline; s++) {
          const t = randInt(r, 10);
          if (t === 0) {
            const map = `${HOME}/__cairn.pages`;
            const m = randInt(r, 3) === 0 && files.has(map) ? mutatePageMap(r, files.get(map)!) : mutateControl(r, files.get(control)!);
            files.set(m.what.startsWith('page map') ? map : control, m.data);
            steps.push(m.what);
            historyOnly = true;
          } else if (t <= 4) {
            steps.push(mutateLog(r, files, logs));
            historyOnly = true;
          } else steps.push(mutateData(r, files, dataFiles));
        }
      } catch (e) {
        broken = `harness: mutation ${steps.length + 1} threw: ${(e as Error)?.stack ?? String(e)}`;
      }
      const anyValue = steps.some((s) => CONTENT.test(s));
      const action = pick(r, ['open', 'open', 'normal', 'catastrophic']);
      const what = `case ${i} (CAIRN_SEED=${seed} CAIRN_FUZZ_CASE=${i}; ${crashed ? 'crashed' : 'closed'} image, ${action}): ${baseline ? 'no damage (baseline)' : steps.join('; ')}`;
      post({ t: 'case', index: g, what });
      if (broken !== undefined) {
        post({ t: 'result', outcome: { kind: 'fail', message: broken }, ms: 0, maxAlloc: 0 });
        continue;
      }
      const c: CaseCtx = {
        index: i,
        history: images.history,
        final: images.final,
        historyOnly: historyOnly || anyValue,
        anyValue,
        typed: [],
        step: (s) => post({ t: 'step', step: s }),
        tmp: job.tmp,
      };
      guard.reset();
      const t0 = performance.now();
      let outcome: CaseOutcome;
      try {
        const vfs = SimVfs.fromFiles(files);
        try {
          await exerciseLibrary(c, vfs, action, r);
        } finally {
          const escaped = [...vfs.snapshotFiles().keys()].filter((p) => !p.startsWith(`${HOME}/`) || p.slice(HOME.length + 1).includes('/'));
          if (escaped.length > 0) throw new Finding('file outside the home written by recovery or open', escaped.join(', '));
        }
        if (job.tmp !== undefined && (i % (job.toolsEvery ?? 1) === 0 || baseline)) await exerciseTools(c, mains, files, !c.historyOnly, r);
        outcome = c.typed.length === 0 ? { kind: 'ok' } : { kind: 'typed', code: c.typed[0]! };
        // An undamaged image reads as the model; only a crashed one is refused by the read-only tools until db_recover -c.
        const wrong = c.typed.filter((t) => !(crashed && /^(db_verify|db_dump [ab]\.db|db_dump -d) exit 1/.test(t)));
        if (baseline && wrong.length > 0) outcome = { kind: 'fail', message: `baseline-error: an undamaged image gave ${wrong.join(', ')}` };
      } catch (e) {
        outcome = e instanceof Finding ? { kind: 'fail', message: e.message } : { kind: 'fail', message: `harness: ${(e as Error)?.stack ?? String(e)}` };
      }
      if (guard.tripped !== undefined) outcome = { kind: 'fail', message: `allocation beyond the bound in ${'a step'}: ${guard.tripped}` };
      post({ t: 'result', outcome, ms: performance.now() - t0, maxAlloc: guard.max });
    }
  }
  post({ t: 'done' });
}

if (parentPort !== null && (workerData as { env?: EnvFuzzJob } | undefined)?.env !== undefined) {
  const wd = workerData as { env: EnvFuzzJob; from?: number; tmp?: string };
  await main({ ...wd.env, ...(wd.from !== undefined ? { from: wd.from } : {}), ...(wd.tmp !== undefined ? { tmp: wd.tmp } : {}) });
}
