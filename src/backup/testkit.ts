// Helpers for the backup and utility tests: run the real bins as an operator would, drive a
// writer child process, snapshot directories, and check a recovered copy.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Environment } from '../env/environment.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');

export function bin(name: string): string {
  return path.join(ROOT, 'bin', `${name}.js`);
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/<name>.js args…` in `cwd`; resolves when it exits. */
export function run(name: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin(name), ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs a tool and throws (with its output) unless it exits 0. */
export async function ok(name: string, args: string[], options: { cwd?: string } = {}): Promise<Run> {
  const r = await run(name, args, options);
  if (r.code !== 0) throw new Error(`${name} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

export function tmpdir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cairn-${prefix}-`));
}

/** The writer fixture as a child process; `acked` is the last acknowledged commit number. */
export class Writer {
  readonly child: ChildProcess;
  acked = 0;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  stderr = '';

  constructor(home: string, opts: { logFileSize?: number; checkpointKb?: number; delayMs?: number } = {}) {
    const script = path.join(here, 'writer.fixture.js');
    this.child = spawn(process.execPath, [script, home, String(opts.logFileSize ?? 65536), String(opts.checkpointKb ?? 128), String(opts.delayMs ?? 0)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let readyResolve: () => void;
    let readyReject: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('ack ')) {
          this.acked = Number(line.slice(4));
          this.waiters = this.waiters.filter((w) => (w.n <= this.acked ? (w.resolve(), false) : true));
        } else if (line.startsWith('ready ')) readyResolve();
      }
    });
    this.exited = new Promise<void>((res) =>
      this.child.on('exit', () => {
        readyReject(new Error(`writer exited before it was ready: ${this.stderr}`));
        res();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves once at least `n` more commits (from now) are acknowledged. */
  more(n: number): Promise<void> {
    const target = this.acked + n;
    return new Promise((resolve) => this.waiters.push({ n: target, resolve }));
  }

  async kill9(): Promise<number> {
    this.child.kill('SIGKILL');
    await this.exited;
    return this.acked;
  }
}

/** Keys n:000000001 … in orders.db of a recovered copy: count and the largest contiguous prefix. */
export async function committed(dir: string): Promise<{ count: number; prefix: number; max: number }> {
  const env = await Environment.open(dir, { readOnly: true });
  try {
    const db = await env.openDatabase('orders.db');
    let count = 0;
    let prefix = 0;
    let max = 0;
    let contiguous = true;
    for (const [k] of db.range()) {
      const n = Number(k.toString('utf8').slice(2));
      count++;
      max = Math.max(max, n);
      if (contiguous && n === prefix + 1) prefix = n;
      else contiguous = false;
    }
    return { count, prefix, max };
  } finally {
    await env.close();
  }
}

/** Names and content hashes of every file under dir (to prove a refused command changed nothing). */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out.set(path.relative(dir, p) + '/', 'dir');
        walk(p);
      } else out.set(path.relative(dir, p), st.isSocket() ? 'socket' : createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** Copies a file with reads of `chunk` bytes (a fuzzy copy, as an operator's cp would make). */
export function copyWithReads(from: string, to: string, chunk: number): void {
  const src = fs.openSync(from, 'r');
  const dst = fs.openSync(to, 'w');
  try {
    const buf = Buffer.alloc(chunk);
    let at = 0;
    for (;;) {
      const n = fs.readSync(src, buf, 0, chunk, at);
      if (n === 0) break;
      fs.writeSync(dst, buf, 0, n, at);
      at += n;
    }
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

export function logsIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => /^log\.\d{10}$/.test(n)).sort();
}
