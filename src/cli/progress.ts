// How the tools show progress (issue 22 item 6; docs/TOOLS.md §Progress): one renderer for
// db_hotbackup, db_recover, db_load, db_verify and db_dump, fed the engine's structured reports
// (src/util/progress.ts), always on stderr — stdout is the tools' data (db_dump's dump).
//
//   tty    stderr is a terminal: one live line, redrawn in place with \r (done/total with the
//          unit, rate, estimate of the time left), cleared when the work ends;
//   plain  stderr is not a terminal and the tool's verbose flag is given: the same text as
//          plain lines, at most one every few seconds;
//   json   --json: one NDJSON object per line, {"type":"progress",…} then a final {"type":"done",…};
//   off    none of these: nothing.
//
// CAIRN_PROGRESS_INTERVAL_MS sets the least time between two reports shown (tests: 0, every report).

import type { Progress, ProgressCallback } from '../util/progress.js';
import { throttleProgress } from '../util/progress.js';
import type { CliIo } from './main.js';

export type ProgressMode = 'tty' | 'plain' | 'json' | 'off';

/** Least time between two reports shown, per mode, unless CAIRN_PROGRESS_INTERVAL_MS says otherwise. */
const INTERVAL_MS: Record<ProgressMode, number> = { tty: 100, plain: 5000, json: 1000, off: Infinity };

export interface RendererOptions {
  /** The tool's name, first on every line and in every JSON object. */
  tool: string;
  mode: ProgressMode;
  /** Where the output goes (stderr). */
  write: (text: string) => void;
  /** The clock, in ms (tests pass a fake one). */
  now?: () => number;
  /** Least time between two reports shown; default per mode. */
  intervalMs?: number;
}

export interface ProgressRenderer {
  /** Feed it the engine's reports. */
  readonly report: ProgressCallback;
  /** Takes the live line off the terminal so that a message can be written (the next report draws it again). */
  clear(): void;
  /** The work ended: the live line cleared; with json the last report not yet shown and the done record. */
  end(ok: boolean): void;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB" for bytes; 12345 → "12,345" for counts. */
export function formatAmount(n: number, unit: Progress['unit']): string {
  if (unit !== 'bytes') return Math.round(n).toLocaleString('en-US');
  let v = n;
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${BYTE_UNITS[i]}`;
}

/** Seconds → "42s", "3m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The text of one report: "phase: done of total unit (pct), rate/s, time left". */
export function progressText(tool: string, p: Progress, rate: number | undefined): string {
  const unit = p.unit === 'bytes' ? '' : ` ${p.unit}`;
  let text = `${tool}: ${p.phase}: ${formatAmount(p.done, p.unit)}`;
  if (p.total !== undefined) {
    const pct = p.total > 0 ? Math.min(100, Math.floor((100 * p.done) / p.total)) : 100;
    text += ` of ${formatAmount(p.total, p.unit)}${unit} (${pct}%)`;
  } else text += unit;
  if (rate !== undefined && rate > 0) {
    text += `, ${formatAmount(rate, p.unit)}${p.unit === 'bytes' ? '/s' : `${unit}/s`}`;
    if (p.total !== undefined) text += `, ${formatDuration(Math.max(0, p.total - p.done) / rate)} left`;
  }
  return text;
}

/** A renderer writing in `mode`. */
export function progressRenderer(options: RendererOptions): ProgressRenderer {
  const { tool, mode, write } = options;
  const now = options.now ?? (() => performance.now());
  const started = now();
  // The rate is taken over the phase so far: from its first report to the latest.
  let phase: { name: string; t0: number; done0: number } | undefined;
  let drawn = false;
  let last: Progress | undefined;
  let shown: Progress | undefined;
  const rateOf = (p: Progress, t: number): number | undefined => {
    if (phase === undefined || phase.name !== p.phase) phase = { name: p.phase, t0: t, done0: p.done };
    const dt = (t - phase.t0) / 1000;
    return dt > 0 && p.done > phase.done0 ? (p.done - phase.done0) / dt : undefined;
  };
  const show = (p: Progress): void => {
    shown = p;
    const t = now();
    const rate = rateOf(p, t);
    if (mode === 'tty') {
      write(`\r${progressText(tool, p, rate)}\x1b[K`);
      drawn = true;
    } else if (mode === 'plain') write(`${progressText(tool, p, rate)}\n`);
    else if (mode === 'json') {
      write(`${JSON.stringify({ type: 'progress', tool, phase: p.phase, done: p.done, total: p.total ?? null, unit: p.unit, rate: rate === undefined ? null : Math.round(rate) })}\n`);
    }
  };
  const throttled = throttleProgress(show, options.intervalMs ?? INTERVAL_MS[mode], now);
  const clear = (): void => {
    if (!drawn) return;
    write('\r\x1b[K');
    drawn = false;
  };
  return {
    report:
      mode === 'off'
        ? () => {}
        : (p) => {
            last = p;
            if (p.phase !== phase?.name) rateOf(p, now()); // a phase's rate starts at its first report, shown or not
            throttled(p);
          },
    clear,
    end: (ok) => {
      if (mode === 'tty') clear();
      else if (mode === 'json') {
        if (last !== undefined && last !== shown) show(last);
        write(`${JSON.stringify({ type: 'done', tool, ok, elapsedMs: Math.round(now() - started) })}\n`);
      }
    },
  };
}

/** The least time between two reports shown, from CAIRN_PROGRESS_INTERVAL_MS when set. */
function intervalFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.CAIRN_PROGRESS_INTERVAL_MS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * The renderer a tool uses: NDJSON with --json, a live line when stderr is a terminal, plain
 * lines with the tool's verbose flag, else nothing.
 */
export function toolProgress(io: CliIo, tool: string, flags: { json: boolean; verbose: boolean; streamsToStdout?: boolean }, env: NodeJS.ProcessEnv = process.env): ProgressRenderer {
  // A tool streaming its data to a terminal (db_dump without -f or a redirection) would write
  // through the live line: there is no line then; plain lines and NDJSON go on as asked.
  const live = io.errTty === true && !(flags.streamsToStdout === true && io.tty);
  const mode: ProgressMode = flags.json ? 'json' : live ? 'tty' : flags.verbose ? 'plain' : 'off';
  const intervalMs = intervalFromEnv(env);
  return progressRenderer({ tool, mode, write: (t) => io.err(t), ...(intervalMs !== undefined ? { intervalMs } : {}) });
}
