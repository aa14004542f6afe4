// The machine's own limits, measured in the same run as the engines: the cost of a durable
// 4 KiB overwrite in a preallocated file, and sequential write and read bandwidth.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { percentile } from './stats.mjs';

const MB = 1e6;
const now = () => performance.now();

/** @param {{ work: string, fsyncIters: number, bwBytes: number }} ctx */
export async function machineLimits(ctx) {
  const out = {};
  // 1. fdatasync of a 4 KiB overwrite in a preallocated, already-synced 1 MiB file.
  {
    const file = path.join(ctx.work, 'fsync.dat');
    const fd = fs.openSync(file, 'w+');
    const page = Buffer.alloc(4096, 0xa5);
    const slots = 256;
    for (let i = 0; i < slots; i++) fs.writeSync(fd, page, 0, page.length, i * 4096);
    fs.fsyncSync(fd);
    for (let i = 0; i < 20; i++) {
      fs.writeSync(fd, page, 0, page.length, (i % slots) * 4096);
      fs.fdatasyncSync(fd);
    }
    const lat = new Float64Array(ctx.fsyncIters);
    const t0 = now();
    for (let i = 0; i < ctx.fsyncIters; i++) {
      const s = now();
      page[0] = i;
      fs.writeSync(fd, page, 0, page.length, (i % slots) * 4096);
      fs.fdatasyncSync(fd);
      lat[i] = now() - s;
    }
    const ms = now() - t0;
    fs.closeSync(fd);
    Object.assign(out, {
      fdatasyncPerSec: ctx.fsyncIters / (ms / 1000),
      fdatasyncP50Ms: percentile(lat, ctx.fsyncIters, 50),
      fdatasyncP99Ms: percentile(lat, ctx.fsyncIters, 99),
    });
  }
  // 2. Sequential write, 1 MiB fs.writeSync calls: to the page cache, and with one fdatasync at the end.
  const file = path.join(ctx.work, 'seq.dat');
  {
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
    const chunks = Math.max(1, Math.round(ctx.bwBytes / chunk.length));
    const fd = fs.openSync(file, 'w');
    const t0 = now();
    for (let i = 0; i < chunks; i++) fs.writeSync(fd, chunk, 0, chunk.length);
    const t1 = now();
    fs.fdatasyncSync(fd);
    const t2 = now();
    fs.closeSync(fd);
    const bytes = chunks * chunk.length;
    Object.assign(out, {
      seqWriteMBps: bytes / MB / ((t2 - t0) / 1000),
      seqWriteNoSyncMBps: bytes / MB / ((t1 - t0) / 1000),
    });
  }
  // 3. Sequential read: from the page cache with 1 MiB fs.readSync, and from the device with
  //    `dd iflag=direct` (O_DIRECT, bypasses the page cache) where dd supports it.
  {
    const buf = Buffer.allocUnsafe(1 << 20);
    const fd = fs.openSync(file, 'r');
    let bytes = 0;
    const t0 = now();
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      bytes += n;
    }
    const ms = now() - t0;
    fs.closeSync(fd);
    Object.assign(out, { seqReadCachedMBps: bytes / MB / (ms / 1000) });
    const t1 = now();
    const dd = spawnSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct'], { stdio: 'ignore' });
    const ddMs = now() - t1;
    Object.assign(out, { seqReadDirectMBps: dd.status === 0 ? bytes / MB / (ddMs / 1000) : null });
  }
  fs.rmSync(file, { force: true });
  return out;
}

/**
 * The raw durable-commit floor, run inside W2's rotation (same duration, interleaved with the
 * engines): a 4 KiB overwrite + fdatasync of a preallocated, already-synced file, in a loop.
 * @param {{ work: string, commitMs: number }} ctx
 */
export async function rawCommits(ctx) {
  const fd = fs.openSync(path.join(ctx.work, 'raw.dat'), 'w+');
  const page = Buffer.alloc(4096, 0x5a);
  const slots = 256;
  for (let i = 0; i < slots; i++) fs.writeSync(fd, page, 0, page.length, i * 4096);
  fs.fsyncSync(fd);
  const lat = new Float64Array(1 << 21);
  let c = 0;
  const t0 = now();
  const end = t0 + ctx.commitMs;
  let t = t0;
  while (t < end && c < lat.length) {
    const s = now();
    page[0] = c;
    fs.writeSync(fd, page, 0, page.length, (c % slots) * 4096);
    fs.fdatasyncSync(fd);
    t = now();
    lat[c++] = t - s;
  }
  fs.closeSync(fd);
  return { commitsPerSec: c / ((t - t0) / 1000), p50Ms: percentile(lat, c, 50), p99Ms: percentile(lat, c, 99), commits: c };
}

/** Static facts about the machine for the JSON file and the header. @param {string} tmp */
export function machineInfo(tmp) {
  let fsType = 'unknown';
  try {
    // The mount point of tmp: the longest mount path that prefixes it.
    const real = fs.realpathSync(tmp);
    let best = '';
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [dev, mnt, type] = line.split(' ');
      if (mnt && (real === mnt || real.startsWith(mnt.endsWith('/') ? mnt : mnt + '/')) && mnt.length > best.length) {
        best = mnt;
        fsType = `${type} on ${dev} (${mnt})`;
      }
    }
  } catch {}
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: `${cpus.length} × ${cpus[0]?.model ?? '?'}`,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    tmpdir: tmp,
    tmpFs: fsType,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
