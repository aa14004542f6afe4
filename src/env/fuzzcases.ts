// Worker side of the structure-aware fuzzer of opening and recovery (src/env/fuzz.test.ts).
//
// Base images: one small environment (512-byte pages, 32 KiB log files: several levels of
// branches, overflow keys, values and separators, named and duplicate databases, a checkpoint,
// several log files), closed cleanly, and the same environment crashed before close (its
// control file says `open`, so a normal open runs recovery). Each case takes one image, applies
// one to three mutations that keep every checksum valid — the control file's crc, a log file
// header's crc, each log record's crc salted with its LSN (records re-laid out and the next
// file's prevEnd fixed after a length change), a data page's crc — so the input gets past the
// checksum checks to the parsers behind them. Then it opens the environment (or runs normal or
// catastrophic recovery first), reads every database (range, get, count, verify), writes one
// transaction and closes. The oracle: success, or a CairnError; anything else (TypeError,
// RangeError, SyntaxError, an internal assertion, an allocation past the bound) is a failure.

import { parentPort, workerData } from 'node:worker_threads';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { CONTROL_FILE } from './control.js';
import { CairnError } from '../util/errors.js';
import { rng, randInt, randBytes } from '../util/random.js';
import { zlib } from '../util/node.js';
import { LOG_HEADER_SIZE, RECORD_HEADER_SIZE, recordChecksum, parseLogFileName, logFileName } from '../log/file.js';
import { RECORD_TABLE, recordName, type FieldKind } from '../log/records.js';
import { guardAllocations, interesting, newStats, tally, type CaseOutcome, type WorkerMessage } from '../util/fuzzkit.js';

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
}

type Files = Map<string, Buffer>;
type R = () => number;

// ---- base images ---------------------------------------------------------------------------

export async function buildImages(): Promise<{ closed: Files; crashed: Files }> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  const env = await Environment.open(HOME, { create: true, vfs, logFileSize: LOG_SIZE, pageSize: PAGE_SIZE, checkpoint: false });
  const plain = await env.openDatabase('a.db', { create: true, name: 'plain' });
  const dups = await env.openDatabase('a.db', { create: true, name: 'dups', duplicates: 'sorted' });
  const big = await env.openDatabase('b.db', { create: true });
  for (let i = 0; i < 120; i++) {
    const k = `key${String(i * 7).padStart(5, '0')}`;
    await plain.put(k, i % 10 === 3 ? `v${i}`.repeat(200) : `value-${i}`);
    if (i % 3 === 0) await dups.put(`d${i % 9}`, `dup-${i}`);
    if (i % 12 === 0) await big.put(`${'long-key-'.repeat(20)}${i}`, `big-${i}-`.repeat(150));
    if (i === 60) await env.checkpoint();
  }
  for (let i = 0; i < 120; i += 5) await plain.del(`key${String(i * 7).padStart(5, '0')}`);
  const crashed = vfs.crash({ seed: 1, mode: 'keep' }).snapshotFiles();
  await env.close();
  return { closed: vfs.snapshotFiles(), crashed };
}

// ---- control file --------------------------------------------------------------------------

function writeControlText(json: string): Buffer {
  const crc = zlib.crc32(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0');
  return Buffer.from(`${json}\ncrc32 ${crc}\n`, 'utf8');
}

function mutateControl(r: R, data: Buffer): { data: Buffer; what: string } {
  const json = data.toString('utf8').split('\n')[0]!;
  const c = JSON.parse(json) as Record<string, unknown>;
  const keys = Object.keys(c);
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
  const f = fields[randInt(r, fields.length)]!;
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
        const texts = ['', '.', '..', '../escape.db', '/abs.db', 'a.db', 'b.db', 'x\n1 y', '4294967295 a.db\nzz', '\u0000', 'é', '1 a.db\n1 b.db\n'];
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
    const fields: Array<[string, number]> = [['version', 8], ['fileNo', 12], ['fileSize', 16], ['envId', 20], ['prevEnd', 36], ['reserved', 40]];
    const [name, at] = fields[randInt(r, fields.length)]!;
    const v = interesting(r, 32, h.readUInt32LE(at));
    h.writeUInt32LE(v, at);
    sealLogHeader(h);
    what = `${p} header ${name}=${v}`;
    fixPrevEnd = false;
  } else if (n <= 6) {
    const i = randInt(r, img.bodies.length);
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
  const k = randInt(r, 8);
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
  const page = data.subarray(pgno * PAGE_SIZE, (pgno + 1) * PAGE_SIZE);
  return `${p} ${mutatePage(r, page, pages, true)}`;
}

// ---- one case ------------------------------------------------------------------------------

async function exercise(vfs: SimVfs, action: string): Promise<void> {
  if (action === 'catastrophic') await Environment.recover(HOME, { vfs, catastrophic: true });
  if (action === 'normal') await Environment.recover(HOME, { vfs });
  const env = await Environment.open(HOME, { vfs, checkpoint: false });
  try {
    for (const file of ['a.db', 'b.db']) {
      for (const name of env.listDatabases(file)) {
        const db = await env.openDatabase(file, name === '' ? {} : { name });
        let n = 0;
        for (const [k, v] of db.range()) {
          if (n++ % 3 === 0) db.get(k);
          void v;
        }
        db.count();
        db.verify();
        if (name !== 'dups') {
          await db.put(`fuzz-${n}`, 'x'.repeat(n % 2 === 0 ? 10 : 700));
          const first = db.range().next();
          if (!first.done) await db.del(first.value[0]);
        }
      }
    }
    await env.checkpoint();
  } finally {
    await env.close();
  }
}

function classify(e: unknown): CaseOutcome {
  if (e instanceof CairnError) return { kind: 'typed', code: e.code };
  const err = e as Error;
  return { kind: 'fail', message: `untyped ${err?.name ?? typeof e}: ${err?.message ?? String(e)}\n${err?.stack ?? ''}` };
}

async function main(job: EnvFuzzJob): Promise<void> {
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
  const guard = guardAllocations(MAX_ALLOC);
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const images = await buildImages();
  const stats = newStats();
  for (const seed of job.seeds) {
    for (let i = job.only ?? 0; i < (job.only !== undefined ? job.only + 1 : job.cases); i++) {
      const r = rng(seed * 1_000_003 + i);
      const crashed = randInt(r, 3) === 0;
      const files = new Map(crashed ? images.crashed : images.closed);
      const names = [...files.keys()];
      const logs = names.filter((p) => /log\.\d{10}$/.test(p));
      const dataFiles = names.filter((p) => p.endsWith('.db'));
      const control = `${HOME}/${CONTROL_FILE}`;
      const steps: string[] = [];
      const count = 1 + (randInt(r, 4) === 0 ? 1 + randInt(r, 2) : 0);
      for (let s = 0; s < count; s++) {
        const t = randInt(r, 10);
        if (t === 0) {
          const m = mutateControl(r, files.get(control)!);
          files.set(control, m.data);
          steps.push(m.what);
        } else if (t <= 4) steps.push(mutateLog(r, files, logs));
        else steps.push(mutateData(r, files, dataFiles));
      }
      const action = pick(r, ['open', 'open', 'normal', 'catastrophic']);
      const what = `case ${i} (CAIRN_SEED=${seed} CAIRN_FUZZ_CASE=${i}; ${crashed ? 'crashed' : 'closed'} image, ${action}): ${steps.join('; ')}`;
      post({ t: 'case', what });
      guard.reset();
      const t0 = performance.now();
      let outcome: CaseOutcome;
      try {
        await exercise(SimVfs.fromFiles(files), action);
        outcome = { kind: 'ok' };
      } catch (e) {
        outcome = classify(e);
      }
      if (guard.tripped !== undefined) outcome = { kind: 'fail', message: guard.tripped };
      tally(stats, what, outcome, performance.now() - t0);
      if (stats.failures.length >= 20) break;
    }
  }
  stats.maxAlloc = guard.max;
  post({ t: 'done', stats });
}

if (parentPort !== null && (workerData as { env?: EnvFuzzJob } | undefined)?.env !== undefined) {
  await main((workerData as { env: EnvFuzzJob }).env);
}
