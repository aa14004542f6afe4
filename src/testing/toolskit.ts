// Test helpers for the issue-5 tools: run a db_* tool as a process (bin/db_*.js) or in-process
// (src/cli/<name>.ts main with captured output), snapshot a directory to prove that nothing
// changed, and find the real Berkeley DB 5.3 utilities.

import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../cli/main.js';

/** The repository root (dist/testing/toolskit.js → ../..). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VECTORS = path.resolve(REPO, 'testdata', 'bdb-dumps');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes (for byte-for-byte comparisons). */
  out: Buffer;
}

/** Runs bin/db_<tool>.js as a process. `input` goes to its standard input. */
export function runProcess(tool: string, args: string[], options: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...options.env };
    delete env.DB_HOME;
    if (options.env?.DB_HOME !== undefined) env.DB_HOME = options.env.DB_HOME;
    const p = spawn(process.execPath, [path.join(REPO, 'bin', `db_${tool}.js`), ...args], { cwd: options.cwd ?? REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    p.on('error', reject);
    p.stdin.on('error', () => {
      // the tool may exit before reading all of its input (an error on line 1)
    });
    p.on('close', (code) => {
      const o = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: o.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), out: o });
    });
    if (options.input !== undefined) p.stdin.end(options.input);
    else p.stdin.end();
  });
}

/** Runs src/cli/<tool>.ts main() in this process with captured output. */
export async function runInProcess(tool: string, args: string[]): Promise<Run> {
  const mod = (await import(`../cli/${tool}.js`)) as { main: (a: string[], io: CliIo) => Promise<number> };
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => void out.push(t), err: (t) => void err.push(t), tty: false };
  const code = await mod.main(args, io);
  const stdout = out.join('');
  return { code, stdout, stderr: err.join(''), out: Buffer.from(stdout, 'utf8') };
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cairn-${prefix}-`));
}

/** Every file under dir (relative path → sha256 of its bytes), directories as 'dir'. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out.set(r, 'dir');
        walk(p, r);
      } else out.set(r, crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir, '');
  return out;
}

/** A small log file size so that opening test environments is quick. */
export function smallLogConfig(home: string): void {
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'DB_CONFIG'), 'set_lg_max 262144\n');
}

/** The real Berkeley DB 5.3 utilities, or undefined. */
export function bdbTool(name: 'dump' | 'load' | 'stat' | 'verify'): string | undefined {
  const bin = `db5.3_${name}`;
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

/**
 * Whether tests needing real Berkeley DB can run. When it is missing they skip with a message,
 * except under CI=true, where they must fail (CI installs db5.3-util).
 */
export function bdbAvailable(): { ok: true } | { ok: false; why: string } {
  if (bdbTool('dump') !== undefined && bdbTool('load') !== undefined) return { ok: true };
  const why = 'real Berkeley DB (db5.3_dump, db5.3_load from the db5.3-util package) is not installed';
  if (process.env.CI === 'true') throw new Error(`${why}, and CI=true requires it: apt-get install db5.3-util`);
  return { ok: false, why };
}

/** Runs a real Berkeley DB utility synchronously; throws with its stderr on failure. */
export function bdb(name: 'dump' | 'load', args: string[], input?: Buffer | string): Buffer {
  const r = spawnSync(`db5.3_${name}`, args, { input, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`db5.3_${name} ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`);
  return r.stdout;
}

/** Runs async jobs with at most `n` at a time. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** Key/data pairs of a dump (for hash databases, compared as a sorted list). */
export function dumpPairs(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf('HEADER=END') + 1;
  const out: string[] = [];
  for (let i = start; i < lines.length && lines[i] !== 'DATA=END'; i += 2) out.push(`${lines[i]}\n${lines[i + 1]}`);
  return out.sort();
}

/**
 * Runs `script` (an ES module body) in a child process until it prints READY, then kills it with
 * SIGKILL and waits for it to be gone: an owner that dies with whatever it left on disk.
 */
export async function killedAfterReady(script: string): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => (String(d).includes('READY') ? resolve() : undefined));
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
  } finally {
    child.kill('SIGKILL');
  }
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.on('exit', r)));
}
