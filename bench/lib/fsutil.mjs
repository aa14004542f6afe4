// File-system helpers: sizes, a durable "sync everything" pass, copies, removal.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

/**
 * Apparent and allocated size of every file under dir.
 * @param {string} dir
 * @param {(name: string) => boolean} [filter] on the file's base name
 * @returns {{ bytes: number, allocBytes: number, files: number }}
 */
export function treeSize(dir, filter) {
  let bytes = 0;
  let allocBytes = 0;
  let files = 0;
  /** @param {string} d */
  const walk = (d) => {
    let ents;
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code === 'ENOENT') return;
      throw e;
    }
    for (const ent of ents) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile() && (!filter || filter(ent.name))) {
        try {
          const st = fs.statSync(p);
          bytes += st.size;
          allocBytes += st.blocks * 512;
          files++;
        } catch (e) {
          if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'ENOENT') throw e;
        }
      }
    }
  };
  walk(dir);
  return { bytes, allocBytes, files };
}

/**
 * fsync every file and directory under dir. Files that disappear meanwhile (an engine deleting
 * an old log while we walk) are skipped.
 * @param {string} dir
 */
export function fsyncTree(dir) {
  /** @param {string} p @param {boolean} isDir */
  const syncOne = (p, isDir) => {
    let fd;
    try {
      fd = fs.openSync(p, isDir ? 'r' : 'r+');
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code === 'ENOENT') return;
      throw e;
    }
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
  /** @param {string} d */
  const walk = (d) => {
    let ents;
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code === 'ENOENT') return;
      throw e;
    }
    for (const ent of ents) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile()) syncOne(p, false);
    }
    syncOne(d, true);
  };
  walk(dir);
}

/** Copies a closed directory tree (untimed set-up). @param {string} src @param {string} dst */
export function copyTree(src, dst) {
  fs.cpSync(src, dst, { recursive: true });
}

/** `cp -r src dst` as a child process, the W6 baseline. @param {string} src @param {string} dst */
export function cpR(src, dst) {
  const r = spawnSync('cp', ['-r', src, dst], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`cp -r failed: ${r.stderr?.toString() ?? r.error}`);
}

/** @param {string} dir */
export function rmTree(dir) {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

/** Wall-clock milliseconds since the epoch with sub-millisecond resolution, comparable across processes. */
export function epochMs() {
  return performance.timeOrigin + performance.now();
}
