// Structured progress of long work (issue 22 item 6): hot backup, recovery, db_load, db_verify,
// db_dump report numbers — how much of what is done out of how much — never sentences, so that a
// caller can draw a bar, compute a rate and an estimate, or log JSON. The command-line rendering
// (live line on a terminal, plain lines, NDJSON) is src/cli/progress.ts.

/**
 * One progress report of a long operation: `done` units of `total` in the current `phase`.
 * Within one phase `done` never decreases; a new phase starts again from its own `done`.
 */
export interface Progress {
  /**
   * What is being done. Hot backup: 'data' (data files copied), 'logs' (log files copied or
   * moved), then recovery's phase in the copy; recovery: 'recovery' (log replayed); db_load:
   * 'check' (the input read and checked) and 'load' (records written); db_verify: 'pages'
   * (every page checked) and 'trees' (pages reached through the trees); db_dump: 'records' or
   * 'pages' (-d).
   */
  phase: string;
  /** Units done so far in this phase. */
  done: number;
  /** Units this phase will take when known (an upper bound for recovery: the last log file is preallocated), else undefined. */
  total: number | undefined;
  /** What `done` and `total` count. */
  unit: 'bytes' | 'files' | 'records' | 'pages';
}

/** A callback that receives progress reports (the `progress` option of the long operations). */
export type ProgressCallback = (progress: Progress) => void;

/**
 * Wraps `report` so that it passes at most one report every `intervalMs` milliseconds of
 * `now()`, except that the first report of each phase and any report with `done === total` (a
 * phase's end) always pass. Returns the throttled callback.
 */
export function throttleProgress(report: ProgressCallback, intervalMs: number, now: () => number = () => performance.now()): ProgressCallback {
  let last = -Infinity;
  let phase: string | undefined;
  return (p) => {
    const t = now();
    const end = p.total !== undefined && p.done >= p.total;
    if (p.phase !== phase || end || t - last >= intervalMs) {
      phase = p.phase;
      last = t;
      report(p);
    }
  };
}
