// The `cairn` umbrella command and the tools' help, as an operator meets them on a terminal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO, tmpDir } from '../testing/toolskit.js';
import { COMMANDS } from './main.js';

function bin(name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [path.join(REPO, 'bin', `${name}.js`), ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('cairn -V and --version print the package version; cairn <command> names itself so in errors', (t) => {
  const version = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  for (const flag of ['-V', '--version']) {
    const r = bin('cairn', [flag]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `cairn ${version}\n`);
  }
  const dir = tmpDir('cairn-umbrella-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const viaCairn = bin('cairn', ['stat', '-h', dir]);
  assert.equal(viaCairn.status, 1);
  assert.match(viaCairn.stderr, /^cairn stat: /);
  const direct = bin('db_stat', ['-h', dir]);
  assert.equal(direct.status, 1);
  assert.match(direct.stderr, /^db_stat: /);
});

test("every tool's --help opens with a sentence saying what the tool does", () => {
  for (const name of COMMANDS) {
    const r = bin(`db_${name}`, ['--help']);
    assert.equal(r.status, 0, `db_${name}: ${r.stderr}`);
    const afterUsage = r.stdout.split('\n').filter((l) => !/^(usage: |       )/.test(l));
    const first = afterUsage.find((l) => l.trim() !== '');
    assert.ok(first !== undefined && /^[A-Z][a-z]+s\b/.test(first), `db_${name} --help starts its text with: ${first}`);
  }
});
