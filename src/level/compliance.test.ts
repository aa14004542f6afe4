// The Level ecosystem's compliance suite (abstract-level/test on tape) against CairnLevel.
// tape reports on stdout in TAP; the suite runs in a child process (testing/compliance-runner.js) and
// this test reads its totals, prints them as one line and requires zero failures.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { EXCLUDED } from '../testing/compliance-excluded.js';

const runner = fileURLToPath(new URL('../testing/compliance-runner.js', import.meta.url));

function run(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `# name N` lines of tape's summary (0 when absent: tape omits `# fail` when nothing failed). */
function total(tap: string, name: string): number {
  const m = new RegExp(`^# ${name}\\s+(\\d+)\\s*$`, 'm').exec(tap);
  return m === null ? 0 : Number(m[1]);
}

/** Each failed assertion with the test it belongs to. */
function failures(tap: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of tap.split('\n')) {
    if (line.startsWith('# ')) current = line.slice(2);
    else if (line.startsWith('not ok ')) out.push(`${current}: ${line}`);
  }
  return out;
}

test('abstract-level compliance suite', { timeout: 300_000 }, async () => {
  const r = await run();
  const passed = total(r.stdout, 'pass');
  const failed = total(r.stdout, 'fail');
  const excluded = total(r.stdout, 'excluded');
  const line = `abstract-level suite: ${passed} passed, ${failed} failed${excluded > 0 ? `, ${excluded} excluded` : ''}`;
  console.log(line);
  assert.equal(excluded, EXCLUDED.size, 'every excluded test name matched a test of the suite');
  const bad = failures(r.stdout);
  assert.deepEqual(bad, [], `failed assertions:\n${bad.slice(0, 50).join('\n')}\n${r.stderr.slice(-4000)}`);
  assert.equal(failed, 0, r.stderr.slice(-4000));
  assert.equal(r.signal, null, `the suite was killed (${r.signal}): it hung or took over 240 s`);
  assert.equal(r.code, 0, `the suite exited with ${r.code}\n${r.stderr.slice(-4000)}`);
  // An empty or truncated run must not pass: the suite has over 5,000 assertions.
  assert.ok(passed > 5000, `only ${passed} assertions ran`);
  assert.match(r.stdout, /^# ok\s*$/m, 'tape did not report # ok');
});
