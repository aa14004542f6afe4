// db_checkpoint [-1Vv] [-h home] [-k kbytes] [-L file] [-p min]: one forced checkpoint (-1), or
// a daemon that checkpoints whenever a threshold is reached, until SIGINT or SIGTERM
// (Berkeley DB's db_checkpoint; docs/BACKUP.md §db_checkpoint).

import * as fs from 'node:fs';
import { Environment } from '../env/environment.js';
import { type ChannelStatus, connectChannel } from '../env/channel.js';
import { formatLsn, lsnFile, lsnOffset } from '../util/lsn.js';
import { CliError, type CliIo, type ToolContext, type ToolSpec, ctime, homeOf, parseCount, requireEnvironment, runTool, usageError } from './common.js';

export const spec: ToolSpec = {
  name: 'db_checkpoint',
  usage: ['db_checkpoint [-1Vv] [-h home] [-k kbytes] [-L file] [-p min]'],
  options: '1h:k:L:p:Vv',
  unsupported: { P: 'cairn environments are not encrypted; drop -P' },
  help: `Checkpoints an environment: once (-1), or as a daemon whenever a threshold is reached.

  -1           one checkpoint now, then exit
  -h home      environment home (default $DB_HOME, else the current directory)
  -k kbytes    daemon: checkpoint once this many KiB of log were written since the last checkpoint
  -L file      daemon: write "db_checkpoint: <pid> <time>" to file (relative to the current
               directory); removed when the daemon exits on SIGINT or SIGTERM
  -p min       daemon: checkpoint at least every min minutes when something was logged
  -v           report each checkpoint on stderr
  -V           print the version and exit

At least one of -1, -k and -p is required. While a process has the environment open, the
checkpoint is asked of that process through its coordination channel (__cairn.sock in the
home); with -1 and no such process, db_checkpoint opens the environment itself. The daemon
(-k/-p) needs the application running: it checks the thresholds every second through the
channel, and waits for the next owner when the current one exits.
Exit status: 0 on success, 1 on error, 130 / 143 when the daemon stops on SIGINT / SIGTERM.
`,
};

/** Bytes of log between two LSNs (file headers ignored). */
function logBytesBetween(from: number, to: number, fileSize: number): number {
  return (lsnFile(to) - lsnFile(from)) * fileSize + lsnOffset(to) - lsnOffset(from);
}

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, async (o, ctx) => {
    const once = o.has('1');
    const kbytes = o.value('k') !== undefined ? parseCount('k', o.value('k')!, { min: 1 }) : undefined;
    const minutes = o.value('p') !== undefined ? parseCount('p', o.value('p')!, { min: 1 }) : undefined;
    if (!once && kbytes === undefined && minutes === undefined) throw usageError('at least one of -1, -k and -p must be specified');
    const home = homeOf(o);
    requireEnvironment(home);
    const verbose = o.has('v');
    if (once) {
      await checkpointOnce(home, verbose, ctx);
      return 0;
    }
    return daemon(home, { kbytes, minutes, verbose, pidFile: o.value('L') }, ctx);
  });
}

async function checkpointOnce(home: string, verbose: boolean, ctx: ToolContext): Promise<void> {
  if (verbose) ctx.warn(`checkpoint begin: ${ctime()}`);
  const client = await connectChannel(home);
  let redo: string;
  if (client !== undefined) {
    try {
      redo = formatLsn((await client.checkpoint()).redo);
    } finally {
      client.close();
    }
  } else {
    const env = await Environment.open(home, { checkpoint: false });
    try {
      await env.checkpoint();
      redo = formatLsn(env.redoPoint);
    } finally {
      await env.close();
    }
  }
  if (verbose) ctx.warn(`checkpoint complete: ${ctime()}: redo point ${redo}`);
}

async function daemon(home: string, opts: { kbytes?: number; minutes?: number; verbose: boolean; pidFile?: string }, ctx: ToolContext): Promise<number> {
  let client = await connectChannel(home);
  if (client === undefined) {
    throw new CliError(`no process has ${home} open; the checkpoint daemon (-k, -p) works through the application that owns the environment: start it first, or use -1 for one checkpoint`);
  }
  if (opts.pidFile !== undefined) {
    try {
      fs.writeFileSync(opts.pidFile, `db_checkpoint: ${process.pid} ${ctime()}\n`);
    } catch (e) {
      client.close();
      throw new CliError(`cannot write -L ${opts.pidFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a file you can write`);
    }
  }
  let stopSignal: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    stopSignal = sig;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });
  let lastCkptAt = Date.now();
  let endAfterCkpt = -1;
  let ownerPid = client.pid;
  try {
    while (stopSignal === undefined) {
      if (client === undefined) {
        client = await connectChannel(home).catch(() => undefined);
        if (client !== undefined) {
          ownerPid = client.pid;
          if (opts.verbose) ctx.warn(`connected to the owner of ${home} (process ${ownerPid})`);
        }
      }
      if (client !== undefined) {
        try {
          const st: ChannelStatus = await client.status();
          if (st.lastCheckpointTime !== undefined) lastCkptAt = Math.max(lastCkptAt, st.lastCheckpointTime);
          const sinceKb = logBytesBetween(st.redo, st.end, st.logFileSize) / 1024;
          const byKb = opts.kbytes !== undefined && sinceKb >= opts.kbytes;
          const byTime = opts.minutes !== undefined && Date.now() - lastCkptAt >= opts.minutes * 60_000 && st.end !== endAfterCkpt;
          if (byKb || byTime) {
            if (opts.verbose) ctx.warn(`checkpoint begin: ${ctime()}`);
            const r = await client.checkpoint();
            lastCkptAt = Date.now();
            endAfterCkpt = r.end;
            if (opts.verbose) ctx.warn(`checkpoint complete: ${ctime()}: redo point ${formatLsn(r.redo)}`);
          }
        } catch (e) {
          client.close();
          client = undefined;
          if (opts.verbose) ctx.warn(`the owner (process ${ownerPid}) went away (${(e as Error).message}); waiting for the environment to be opened again`);
        }
      }
      if (stopSignal === undefined) await pause(1000);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    client?.close();
    if (opts.pidFile !== undefined) {
      try {
        fs.unlinkSync(opts.pidFile);
      } catch {
        // already gone
      }
    }
  }
  return stopSignal === 'SIGTERM' ? 143 : 130;
}
