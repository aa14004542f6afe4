// Test support for the structure-aware fuzzers (issue 4 item 7; src/env/fuzz.test.ts,
// src/dump/fuzz.test.ts). Not used by the engine.
//
// A fuzzer's cases run in a worker thread (`runFuzzWorker`) so that the main thread can enforce
// the time bound per case: the worker reports each case before starting it, and a case that
// does not finish within `caseMs` — an endless loop included, which no in-thread timer can
// interrupt — terminates the worker and fails the test with the seed and case number. Memory is
// bounded twice: the worker's JavaScript heap has a hard limit (`heapMb`), and every Buffer
// allocation above `maxAlloc` bytes is refused and remembered (`guardAllocations`), so a length
// field of 4 GiB that reaches Buffer.alloc is a failure even when the engine catches the error.

import { Worker } from 'node:worker_threads';
import { randInt } from '../util/random.js';

/** One case as the worker reports it: ok, a typed error (its code), or a failure (anything else). */
export type CaseOutcome = { kind: 'ok' } | { kind: 'typed'; code: string } | { kind: 'fail'; message: string };

export interface FuzzStats {
  cases: number;
  ok: number;
  typed: Record<string, number>;
  failures: string[];
  /** Slowest case, ms, and which one. */
  maxMs: number;
  slowest: string;
  /** Largest Buffer allocation seen, bytes. */
  maxAlloc: number;
  /** Peak of process.memoryUsage().rss sampled after each case, bytes. */
  peakRss: number;
}

export interface WorkerMessage {
  t: 'case' | 'done';
  what?: string;
  stats?: FuzzStats;
}

export interface FuzzRun {
  /** The worker module (compiled .js), e.g. new URL('../testing/envfuzzcases.js', import.meta.url). */
  module: URL;
  workerData: unknown;
  /** Hard time bound per case. */
  caseMs: number;
  /** Hard bound on the worker's JavaScript heap. */
  heapMb: number;
}

/** Runs a fuzz worker; rejects naming the case when one exceeds the time bound or the worker dies. */
export function runFuzzWorker(run: FuzzRun): Promise<FuzzStats> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(run.module, {
      workerData: run.workerData,
      resourceLimits: { maxOldGenerationSizeMb: run.heapMb, maxYoungGenerationSizeMb: 64 },
      stdout: false,
      stderr: false,
    });
    let current = 'worker start-up';
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        finish(() => reject(new Error(`${current}: no result within ${ms} ms (a hang or an unbounded loop); the worker was terminated`)));
        void worker.terminate();
      }, ms);
    };
    arm(Math.max(run.caseMs, 30_000)); // start-up builds the base images
    worker.on('message', (m: WorkerMessage) => {
      if (m.t === 'case') {
        current = m.what!;
        arm(run.caseMs);
      } else if (m.t === 'done') {
        finish(() => resolve(m.stats!));
      }
    });
    worker.on('error', (e) => finish(() => reject(new Error(`${current}: the worker died: ${e.message}`, { cause: e }))));
    worker.on('exit', (code) => finish(() => reject(new Error(`${current}: the worker exited with code ${code} before finishing`))));
  });
}

/** Refuses Buffer allocations larger than `limit` (in this thread); returns the tracker. */
export function guardAllocations(limit: number): { max: number; tripped: string | undefined; reset(): void; restore(): void } {
  const saved = { alloc: Buffer.alloc, allocUnsafe: Buffer.allocUnsafe, allocUnsafeSlow: Buffer.allocUnsafeSlow };
  const g = {
    max: 0,
    tripped: undefined as string | undefined,
    reset() {
      g.tripped = undefined;
    },
    restore() {
      Object.assign(Buffer, saved);
    },
  };
  const wrap = <F extends (size: number, ...rest: never[]) => Buffer>(f: F, name: string): F =>
    function (this: unknown, size: number, ...rest: never[]) {
      if (typeof size === 'number') {
        if (size > g.max) g.max = size;
        if (size > limit) {
          g.tripped ??= `Buffer.${name}(${size}) exceeds the fuzz bound of ${limit} bytes: a length was not validated before allocating\n${new Error().stack ?? ""}`;
          throw new Error(g.tripped);
        }
      }
      return f.call(Buffer, size, ...rest);
    } as F;
  Buffer.alloc = wrap(Buffer.alloc, 'alloc');
  Buffer.allocUnsafe = wrap(Buffer.allocUnsafe, 'allocUnsafe');
  Buffer.allocUnsafeSlow = wrap(Buffer.allocUnsafeSlow, 'allocUnsafeSlow');
  return g;
}

/** Boundary values for a field of `bits` bits, near `orig`, or random. */
export function interesting(r: () => number, bits: 8 | 16 | 32, orig = 0): number {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  const pick = [0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 36, 64, 127, 128, 255, 256, 511, 512, 1023, 1024, 4095, 4096, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  const n = randInt(r, 10);
  let v: number;
  if (n < 5) v = pick[randInt(r, pick.length)]!;
  else if (n < 8) v = orig + [-1, 1, -2, 2, -8, 8, -orig, orig][randInt(r, 8)]!;
  else if (n < 9) v = orig ^ (1 << randInt(r, bits));
  else v = Math.floor(r() * (max + 1));
  return ((v % (max + 1)) + max + 1) % (max + 1);
}

/** Counts an outcome into stats. */
export function tally(stats: FuzzStats, what: string, outcome: CaseOutcome, ms: number, sep = ': '): void {
  stats.cases++;
  if (outcome.kind === 'ok') stats.ok++;
  else if (outcome.kind === 'typed') stats.typed[outcome.code] = (stats.typed[outcome.code] ?? 0) + 1;
  else stats.failures.push(`${what}${sep}${outcome.message}`);
  if (ms > stats.maxMs) {
    stats.maxMs = ms;
    stats.slowest = what;
  }
  const rss = process.memoryUsage.rss();
  if (rss > stats.peakRss) stats.peakRss = rss;
}

export function newStats(): FuzzStats {
  return { cases: 0, ok: 0, typed: {}, failures: [], maxMs: 0, slowest: '', maxAlloc: 0, peakRss: 0 };
}

// ---- resumable runs (issue 21): a hang or a dead worker is one failed case, not the end ------

/** Messages of a resumable worker: each case announced with its index, its steps, its result. */
export type ResumableMessage =
  | { t: 'case'; index: number; what: string }
  | { t: 'step'; step: string }
  | { t: 'result'; outcome: CaseOutcome; ms: number; maxAlloc: number }
  | { t: 'done' };

export interface ResumableRun {
  module: URL;
  /** Passed to the worker with `from` (the first case index to run) added. */
  workerData: Record<string, unknown>;
  caseMs: number;
  heapMb: number;
  /** Give up after this many restarts (each after a hang or a dead worker). */
  maxRestarts?: number;
}

/**
 * Runs a fuzz worker that reports case by case (`ResumableMessage`). A case that overruns
 * `caseMs` (a hang, which terminates the worker) or kills the worker (a heap beyond `heapMb`, a
 * crash) is counted as a failed case naming the step it was in — "hang in db_verify", "worker
 * died in open" — and a new worker resumes at the next case. The worker receives
 * `{ ...workerData, from }` and must run the cases from index `from` on.
 */
export async function runResumableFuzz(run: ResumableRun): Promise<FuzzStats> {
  const stats = newStats();
  let from = 0;
  let restarts = 0;
  for (;;) {
    const next = await new Promise<number | undefined>((resolve) => {
      const worker = new Worker(run.module, {
        workerData: { ...run.workerData, from },
        resourceLimits: { maxOldGenerationSizeMb: run.heapMb, maxYoungGenerationSizeMb: 64 },
        stdout: false,
        stderr: false,
      });
      let current: { index: number; what: string } | undefined;
      let last: { index: number; what: string } | undefined;
      let step = 'start-up';
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void worker.terminate();
        if (current === undefined && last !== undefined) {
          // after a case had finished: something it started (a timer, a promise) failed later
          stats.failures.push(`${last.what} — ${why} (after the case had finished)`);
          resolve(last.index + 1);
          return;
        }
        if (current === undefined) {
          stats.failures.push(`worker start-up: ${why}`);
          resolve(undefined);
          return;
        }
        stats.cases++;
        stats.failures.push(`${current.what} — ${why}`);
        resolve(current.index + 1);
      };
      const arm = (ms: number) => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(`hang in ${step}: no result within ${ms} ms (the worker was terminated)`), ms);
      };
      arm(Math.max(run.caseMs, 60_000)); // start-up builds the base images
      worker.on('message', (m: ResumableMessage) => {
        if (m.t === 'case') {
          current = { index: m.index, what: m.what };
          step = 'setup';
          arm(run.caseMs);
        } else if (m.t === 'step') {
          step = m.step;
        } else if (m.t === 'result') {
          tally(stats, current?.what ?? '?', m.outcome, m.ms, ' — ');
          last = current;
          if (m.maxAlloc > stats.maxAlloc) stats.maxAlloc = m.maxAlloc;
          current = undefined;
          step = 'between cases';
        } else if (m.t === 'done') {
          settled = true;
          clearTimeout(timer);
          resolve(undefined);
        }
      });
      worker.on('error', (e) => fail(`worker died in ${step}: ${e.message.split('\n')[0]}\n${e.stack ?? ''}`));
      worker.on('exit', (code) => fail(`worker exited with code ${code} in ${step}`));
    });
    if (next === undefined) break;
    from = next;
    if (++restarts > (run.maxRestarts ?? 50)) {
      stats.failures.push(`gave up after ${restarts} restarts`);
      break;
    }
  }
  return stats;
}
