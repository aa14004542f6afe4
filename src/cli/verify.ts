// db_verify: check data files page by page (issue 5; docs/TOOLS.md §db_verify; the checks are
// src/tools/datafile.ts verifyDataFile).
//
//   db_verify [-NoqVv] [-h home] db_file ... [--json]
//
// For each file: "Verification of FILE succeeded." on stdout, or one line per problem on stderr
// ("db_verify: FILE: page N: what") and "Verification of FILE failed." on stdout. -q drops the
// "Verification of" lines. Exit status 1 when any file failed.

import * as fs from 'node:fs';
import { runTool, type CliIo, type ToolSpec } from './common.js';
import { verifyDataFile } from '../tools/datafile.js';
import { toolProgress } from './progress.js';
import { controlOf, layoutOf, looksLikeEnvironment, requireHomeDir, requireQuiescent, resolveDataFile, resolveHome } from './home.js';

export const spec: ToolSpec = {
  name: 'db_verify',
  usage: ['db_verify [-NoqVv] [-h home] db_file ...', '[--json]'],
  options: 'h:NoqVv',
  long: { json: 'flag' },
  unsupported: { P: 'cairn environments are not encrypted' },
  help: [
    'Checks the structure of data files (pages, checksums, key order, free lists) and reports what is wrong.',
    '',
    '  -h home   the environment directory (default $DB_HOME, else the current directory)',
    '  -q        quiet: no "Verification of ... succeeded/failed" lines (problems are still printed)',
    '  -o        accepted: cairn has no user-defined orders, so order checks always apply',
    '  -N        accepted for compatibility',
    '  -V        print the version and exit',
    '  -v        progress lines on stderr when it is not a terminal (on a terminal a live progress',
    '            line is always drawn on stderr)',
    '  --json    progress as NDJSON on stderr',
    'Checks every page\'s checksum and identity, the catalog and every database tree (order,',
    'structure, overflow chains), the free list, and pages that are in no tree and not free.',
    'Exit status: 0 when every file is sound, 1 otherwise.',
  ].join('\n'),
  operands: { min: 1, max: Infinity, name: 'db_file' },
};

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, (opts, ctx) => {
    const quiet = opts.has('q');
    const resolved = resolveHome(opts, opts.operands[0]);
    const home = resolved.home;
    requireHomeDir(home);
    const files = opts.operands.map((f, i) => (i === 0 ? resolved.file! : f));
    let envId: Buffer | undefined;
    if (looksLikeEnvironment(home)) {
      requireQuiescent(home, 'db_verify');
      const control = controlOf(home);
      if (control !== undefined) envId = Buffer.from(control.envId, 'hex');
    }
    const layout = layoutOf(home);
    let failed = 0;
    const bar = toolProgress(io, spec.name, { json: opts.long('json') !== undefined, verbose: opts.has('v') });
    let ok = false;
    try {
      for (const file of files) {
        const p = resolveDataFile(layout, file);
        let problems: string[];
        if (!fs.existsSync(p)) problems = [`${file}: No such file or directory`];
        else {
          try {
            const r = verifyDataFile(p, { ...(envId !== undefined ? { envId } : {}), progress: (pr) => bar.report({ ...pr, phase: `${file} ${pr.phase}` }) });
            problems = r.problems.map((pr) => `${file}: ${pr.pgno !== undefined ? `page ${pr.pgno}: ` : ''}${pr.what}`);
            if (r.truncated) problems.push(`${file}: more problems not shown`);
          } catch (e) {
            problems = [`${file}: ${(e as Error).message}`];
          }
        }
        bar.clear();
        for (const line of problems) ctx.warn(line);
        if (problems.length > 0) failed++;
        if (!quiet) io.out(`Verification of ${file} ${problems.length === 0 ? 'succeeded' : 'failed'}.\n`);
      }
      ok = true;
    } finally {
      bar.end(ok);
    }
    return failed > 0 ? 1 : 0;
  });
}
