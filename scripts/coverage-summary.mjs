// Prints the branch and line coverage of the modules issue 4 item 9 sets a target for (95%
// branches): the log, recovery, checkpoint, archive and backup code, plus the coordination
// channel. Reads what c8 wrote with `--reporter=json` (coverage/coverage-final.json, istanbul
// format).
//
// Usage: node scripts/coverage-summary.mjs [coverage/coverage-final.json]
// Exit status 0 always (a report, not a gate); `--check` exits 1 when a module is under TARGET.

import * as fs from 'node:fs';
import * as path from 'node:path';

const TARGET = 95;
const args = process.argv.slice(2);
const check = args.includes('--check');
const file = args.find((a) => !a.startsWith('--')) ?? 'coverage/coverage-final.json';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const MODULES = [
  { name: 'src/log', files: ['src/log/file.ts', 'src/log/reader.ts', 'src/log/records.ts', 'src/log/writer.ts'] },
  { name: 'src/recovery', files: ['src/recovery/redo.ts', 'src/recovery/check.ts', 'src/recovery/point_in_time.ts', 'src/recovery/manifest.ts', 'src/recovery/layout.ts'] },
  { name: 'checkpoint and archival', files: ['src/env/checkpointer.ts', 'src/env/archival.ts'] },
  { name: 'src/backup/archive.ts', files: ['src/backup/archive.ts'] },
  { name: 'src/backup', files: ['src/backup/archive.ts', 'src/backup/hotbackup.ts', 'src/backup/layout.ts', 'src/backup/manifest.ts'] },
  { name: 'src/env/channel.ts', files: ['src/env/channel.ts'] },
];

if (!fs.existsSync(file)) {
  console.error(`coverage-summary: ${file} not found; run c8 with --reporter=json first (npm run coverage)`);
  process.exit(2);
}
const data = JSON.parse(fs.readFileSync(file, 'utf8'));
const byRel = new Map();
for (const [p, fc] of Object.entries(data)) byRel.set(path.relative(root, path.resolve(p)).split(path.sep).join('/'), fc);

const within = (loc, range) => loc.start.line > range.start.line || (loc.start.line === range.start.line && loc.start.column >= range.start.column)
  ? loc.start.line < range.end.line || (loc.start.line === range.end.line && loc.start.column <= range.end.column)
  : false;

/** Branch and line counts of one file, optionally only inside the named functions. */
function countFile(fc, methods) {
  let ranges;
  if (methods !== undefined) {
    ranges = Object.values(fc.fnMap).filter((f) => methods.includes(f.name.replace(/^.*\./, ''))).map((f) => f.loc);
    const found = new Set(Object.values(fc.fnMap).map((f) => f.name.replace(/^.*\./, '')));
    const gone = methods.filter((m) => !found.has(m));
    if (gone.length > 0) console.error(`coverage-summary: functions not found in ${fc.path}: ${gone.join(', ')} (renamed?)`);
  }
  const keep = (loc) => ranges === undefined || ranges.some((r) => within(loc, r));
  let branches = 0;
  let covered = 0;
  const missed = [];
  for (const [id, br] of Object.entries(fc.branchMap)) {
    const counts = fc.b[id];
    br.locations.forEach((loc, i) => {
      const at = loc.start.line !== undefined ? loc : br.loc;
      if (!keep(at)) return;
      branches++;
      if (counts[i] > 0) covered++;
      else missed.push(at.start.line);
    });
  }
  const lines = new Map();
  for (const [id, st] of Object.entries(fc.statementMap)) {
    if (!keep(st)) continue;
    const l = st.start.line;
    lines.set(l, (lines.get(l) ?? false) || fc.s[id] > 0);
  }
  return { branches, covered, lines: lines.size, linesCovered: [...lines.values()].filter(Boolean).length, missed };
}

const pct = (a, b) => (b === 0 ? 100 : (100 * a) / b);
const rows = [];
let below = 0;
for (const m of MODULES) {
  const total = { branches: 0, covered: 0, lines: 0, linesCovered: 0 };
  const parts = [];
  for (const f of m.files) {
    const fc = byRel.get(f);
    if (fc === undefined) {
      parts.push(`${path.basename(f)} not measured`);
      continue;
    }
    const c = countFile(fc, m.methods);
    for (const k of Object.keys(total)) total[k] += c[k];
    if (m.files.length > 1) parts.push(`${path.basename(f, '.ts')} ${pct(c.covered, c.branches).toFixed(1)}`);
    else if (c.missed.length > 0) parts.push(`uncovered branches at lines ${[...new Set(c.missed)].slice(0, 12).join(', ')}${c.missed.length > 12 ? ', …' : ''}`);
  }
  const b = pct(total.covered, total.branches);
  if (b < TARGET) below++;
  rows.push([m.name, `${b.toFixed(1)}%`, `${total.covered}/${total.branches}`, `${pct(total.linesCovered, total.lines).toFixed(1)}%`, parts.join(', ')]);
}

const head = ['module', 'branches', 'covered', 'lines', 'detail'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const fmt = (r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
console.log(`\nBranch coverage of the issue 4 item 9 modules (target ${TARGET}%):`);
console.log(fmt(head));
for (const r of rows) console.log(fmt(r));
if (check && below > 0) {
  console.error(`${below} module(s) below ${TARGET}% branch coverage`);
  process.exit(1);
}
