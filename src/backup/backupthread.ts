// The whole hot backup of an environment open in this process, run in a worker thread (issue 6,
// W6): reading, verifying, hashing and writing the copy, its fsyncs, the manifest and the copy's
// catastrophic recovery all block that thread, never the event loop of the process whose writers
// keep committing. Only what needs the live environment stays on the main thread: checkpoint and
// pin/unpin of the log files (I5), asked for by the worker as calls over the message port — the
// same BackupSource interface db_hotbackup uses to reach an owner through its channel. Real
// files only (nodeVfs): a simulated file system lives in the main thread's memory.
//
// The same module is the worker's entry. Typed errors come back as their class (with code, file
// and offset), packed by threaderror.ts. A worker that dies mid-backup leaves no pin behind: the
// main thread releases the pins it still holds for it.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { nodeVfs } from '../io/node.js';
import type { Lsn } from '../util/lsn.js';
import { CairnError } from '../util/errors.js';
import type { Progress } from '../util/progress.js';
import type { Dirs } from './layout.js';
import { type BackupResult, type BackupRunOptions, type BackupSource, type SourcePin, runHotBackup } from './hotbackup.js';
import { type PackedError, pack, unpack } from './threaderror.js';

const KIND = 'cairn-hot-backup';

/** The options a worker can take (no functions, no vfs: the worker uses nodeVfs). */
type ThreadOptions = Omit<BackupRunOptions, 'vfs' | 'progress' | 'log'>;

interface Job {
  kind: typeof KIND;
  dir: string;
  dirs: Dirs;
  envId: Uint8Array;
  opts: ThreadOptions;
  progress: boolean;
}

interface PinInfo {
  id: number;
  redo: Lsn;
  end: Lsn;
  removable: number[];
  logFiles: number[];
}

/** Worker → main. */
type Up =
  | { call: 'checkpoint' | 'pin' | 'release'; id: number; pin?: number }
  | { progress: Progress }
  | { done: BackupResult }
  | { error: PackedError };

/** Main → worker: the answer to a call. */
type Down = { reply: number; value?: unknown; error?: PackedError };

/**
 * A worker that finished its last backup, kept for the next one (unref'd: it does not keep the
 * process alive): starting a thread and loading the engine into it costs 70–370 ms on a loaded
 * machine, more than the copy of a small environment. One is kept; a failed one is ended.
 */
let spare: Worker | undefined;

function takeWorker(): Worker {
  const w = spare ?? new Worker(new URL(import.meta.url), { workerData: { kind: KIND } });
  spare = undefined;
  w.ref();
  return w;
}

function giveBack(w: Worker): void {
  if (spare !== undefined) {
    void w.terminate();
    return;
  }
  w.unref();
  spare = w;
  w.once('exit', () => {
    if (spare === w) spare = undefined;
  });
}

/**
 * Runs runHotBackup(source, dir, opts) in a worker thread over real files; resolves or rejects
 * as the call in this thread would. `opts.vfs` must be nodeVfs or absent.
 */
export function runHotBackupInThread(source: BackupSource, dir: string, opts: BackupRunOptions = {}): Promise<BackupResult> {
  if (opts.vfs !== undefined && opts.vfs !== nodeVfs) throw new CairnError('INVALID_ARGUMENT', 'a hot backup runs in a worker thread on real files only');
  const { vfs: _vfs, progress, log: _log, ...rest } = opts;
  const job: Job = { kind: KIND, dir, dirs: source.dirs, envId: new Uint8Array(source.envId), opts: rest, progress: progress !== undefined };
  const worker = takeWorker();
  const pins = new Map<number, SourcePin>();
  let nextPin = 1;
  const answer = async (m: Extract<Up, { call: string }>): Promise<unknown> => {
    switch (m.call) {
      case 'checkpoint':
        return await source.checkpoint();
      case 'pin': {
        const p = await source.pin();
        const id = nextPin++;
        pins.set(id, p);
        return { id, redo: p.redo, end: p.end, removable: p.removable, logFiles: p.logFiles } satisfies PinInfo;
      }
      case 'release': {
        const p = pins.get(m.pin!);
        pins.delete(m.pin!);
        return await p?.release();
      }
    }
  };
  let healthy = false;
  const settled = new Promise<BackupResult>((resolve, reject) => {
    let over = false;
    const end = (f: () => void) => {
      if (over) return;
      over = true;
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      f();
    };
    const onMessage = (m: Up) => {
      if ('call' in m) {
        answer(m).then(
          (value) => worker.postMessage({ reply: m.id, value } satisfies Down),
          (e: unknown) => worker.postMessage({ reply: m.id, error: pack(e) } satisfies Down),
        );
      } else if ('progress' in m) progress?.(m.progress);
      else if ('done' in m) {
        healthy = true;
        end(() => resolve(m.done));
      } else end(() => reject(unpack(m.error)));
    };
    const onError = (e: Error) => end(() => reject(e));
    const onExit = (code: number) => end(() => reject(new CairnError('IO', `the hot backup's thread exited (code ${code}) without an answer`)));
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    worker.postMessage(job);
  });
  return settled.finally(async () => {
    // A backup that failed leaves nothing running: its thread is ended, not kept.
    if (healthy) giveBack(worker);
    else await worker.terminate();
    // A worker that failed before unpinning (or died) leaves its pins to us (I5: released, not leaked).
    for (const p of pins.values()) await p.release();
    pins.clear();
  });
}

/** The worker's side: backups one at a time, each asking the main thread for checkpoint and pins. */
function serve(port: NonNullable<typeof parentPort>): void {
  let seq = 0;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const call = (c: 'checkpoint' | 'pin' | 'release', pin?: number): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, { resolve, reject });
      port.postMessage({ call: c, id, pin } satisfies Up);
    });
  const run = (job: Job) => {
    const source: BackupSource = {
      dirs: job.dirs,
      envId: Buffer.from(job.envId),
      checkpoint: async () => {
        await call('checkpoint');
      },
      pin: async () => {
        const p = (await call('pin')) as PinInfo;
        return {
          redo: p.redo,
          end: p.end,
          removable: p.removable,
          logFiles: p.logFiles,
          release: async () => {
            await call('release', p.id);
          },
        };
      },
    };
    const progress = job.progress ? (p: Progress) => port.postMessage({ progress: p } satisfies Up) : undefined;
    // In this thread the recovery runs synchronously: it blocks this thread only.
    runHotBackup(source, job.dir, { ...job.opts, vfs: nodeVfs, progress }).then(
      (done) => port.postMessage({ done } satisfies Up),
      (e: unknown) => port.postMessage({ error: pack(e) } satisfies Up),
    );
  };
  port.on('message', (m: Down | Job) => {
    if ('kind' in m) {
      run(m);
      return;
    }
    const w = waiting.get(m.reply);
    waiting.delete(m.reply);
    if (m.error !== undefined) w?.reject(unpack(m.error));
    else w?.resolve(m.value);
  });
}

if (!isMainThread && parentPort !== null && (workerData as { kind?: string } | undefined)?.kind === KIND) serve(parentPort);
