// Small statistics and number formatting.

/** @param {number[]} xs */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** @param {number[]} xs */
export function minMax(xs) {
  const s = xs.filter((x) => Number.isFinite(x));
  if (s.length === 0) return null;
  return [Math.min(...s), Math.max(...s)];
}

/** Percentile of the first `n` samples (nearest rank). @param {Float64Array} samples @param {number} n @param {number} p in [0,100] */
export function percentile(samples, n, p) {
  if (n === 0) return null;
  const s = samples.slice(0, n).sort();
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return s[rank];
}

/** Human-friendly number: 3 significant digits, k/M suffixes for large values. @param {number | null | undefined} x */
export function fmt(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1e6) return trim((x / 1e6).toPrecision(3)) + 'M';
  if (a >= 1e4) return trim((x / 1e3).toPrecision(3)) + 'k';
  if (a >= 1000) return (x / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
  if (a === 0) return '0';
  return trim(x.toPrecision(3));
}

/** @param {string} s */
function trim(s) {
  return s.includes('e') ? s : s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** "median (min–max)". @param {number[]} xs */
export function cell(xs) {
  const m = median(xs);
  if (m === null) return '—';
  const mm = minMax(xs);
  if (!mm || xs.length < 2) return fmt(m);
  return `${fmt(m)} (${fmt(mm[0])}–${fmt(mm[1])})`;
}

/** Markdown table. @param {string[]} head @param {string[][]} rows */
export function table(head, rows) {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (/** @type {string[]} */ r) => '| ' + r.map((x, c) => (x ?? '').padEnd(widths[c])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
