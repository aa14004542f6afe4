// The hot backup's last step off the main thread (issue 6, W6): catastrophic recovery of the
// copy, and where its log leaves off after the last commit, run in a worker thread. Recovery is
// synchronous and holds the event loop for its whole run (reads, checksums, fsyncs); in a worker,
// the source's writers in this process keep completing their commits meanwhile. Only for real
// files (nodeVfs): a simulated file system lives in the main thread's memory.
//
// The same module is the worker's entry: loaded in a worker thread, it runs the job it was
// given and posts the result, or the error (typed errors are rebuilt as their class on the
// main thread, with code, file and offset).

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Environment, type RecoveryReport } from '../env/environment.js';
import { CairnError, CorruptionError, IoError, LockedError, RunRecoveryError } from '../util/errors.js';
import type { Lsn } from '../util/lsn.js';
import { nodeVfs } from '../io/node.js';
import { afterLastCommit } from './manifest.js';

interface Job {
  kind: 'cairn-backup-recovery';
  target: string;
  logDir: string;
  envId: Uint8Array;
  /** A record boundary of the copied log (the source's log end when pinned): see afterLastCommit. */
  from?: Lsn;
}

interface Done {
  recovery: RecoveryReport;
  required: Lsn;
}

/** An error as it crosses a thread boundary: class name, message, stack, and its string and number properties. */
export interface PackedError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
}

interface Failed {
  error: PackedError;
}

const CLASSES: Record<string, { prototype: object }> = { CairnError, CorruptionError, LockedError, RunRecoveryError, IoError };

export function pack(e: unknown): PackedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e), props: {} };
  const props: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (typeof v === 'string' || typeof v === 'number') props[k] = v;
  return { name: e.name, message: e.message, stack: e.stack, props };
}

/** The error `pack` made, rebuilt as its class (CairnError, CorruptionError, …) where it is one of ours. */
export function unpack(p: PackedError): Error {
  const e = Object.create((CLASSES[p.name] ?? Error).prototype) as Error;
  Object.defineProperty(e, 'message', { value: p.message, writable: true, configurable: true });
  Object.defineProperty(e, 'stack', { value: p.stack, writable: true, configurable: true });
  Object.assign(e, p.props);
  return e;
}

/**
 * A worker thread started at once (loading the engine's modules while the backup copies) that
 * runs the copy's recovery when told to; `run` resolves or rejects as the in-thread call would.
 * `stop` ends it when the backup fails before recovery.
 */
export class RecoveryThread {
  private readonly worker: Worker;
  private readonly answer: Promise<Done>;
  private asked = false;

  constructor() {
    this.worker = new Worker(new URL(import.meta.url), { workerData: { kind: 'cairn-backup-recovery' } });
    this.answer = new Promise<Done>((resolve, reject) => {
      let settled = false;
      this.worker.once('message', (m: Done | Failed) => {
        settled = true;
        if ('error' in m) reject(unpack(m.error));
        else resolve(m);
      });
      this.worker.once('error', (e) => {
        if (!settled) reject(e);
        settled = true;
      });
      this.worker.once('exit', (code) => {
        if (!settled) reject(new CairnError('IO', `the backup's recovery thread exited (code ${code}) without an answer`));
        settled = true;
      });
    });
    this.answer.catch(() => {}); // observed by run(); a thread stopped unasked rejects unobserved
  }

  run(target: string, logDir: string, envId: Buffer, from?: Lsn): Promise<Done> {
    this.asked = true;
    const job: Job = { kind: 'cairn-backup-recovery', target, logDir, envId: new Uint8Array(envId), from };
    this.worker.postMessage(job);
    return this.answer;
  }

  async stop(): Promise<void> {
    if (!this.asked) await this.worker.terminate();
  }
}

async function runJob(job: Job): Promise<Done> {
  const recovery = await Environment.recover(job.target, { catastrophic: true });
  const required = afterLastCommit(nodeVfs, job.logDir, Buffer.from(job.envId), job.from);
  return { recovery, required };
}

if (!isMainThread && parentPort !== null && (workerData as { kind?: string } | undefined)?.kind === 'cairn-backup-recovery') {
  const port = parentPort;
  port.once('message', (job: Job) => {
    runJob(job).then(
      (done) => port.postMessage(done),
      (e: unknown) => port.postMessage({ error: pack(e) } satisfies Failed),
    );
  });
}
