// Registry for the planted-bug yardstick: every plant in src/util/plant.ts is listed in
// scripts/planted.mjs with the tests that catch it, and is planted somewhere in src/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PLANTS } from './plant.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && p !== path.join(root, 'src/util/plant.ts')) out.push(p);
  }
  return out;
}

test('every planted bug is listed in scripts/planted.mjs with existing catching tests, and planted in the engine', async () => {
  const script = (await import(pathToFileURL(path.join(root, 'scripts/planted.mjs')).href)) as { CATCHERS: Record<string, string[]> };
  const names = Object.keys(PLANTS);
  assert.ok(names.length >= 10, `only ${names.length} planted bugs`);
  assert.deepEqual(Object.keys(script.CATCHERS).sort(), [...names].sort(), 'scripts/planted.mjs CATCHERS must list exactly the plants of src/util/plant.ts');
  const text = sources(path.join(root, 'src')).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  for (const name of names) {
    assert.ok(text.includes(`planted('${name}')`), `plant ${name} is not planted anywhere in src/`);
    for (const f of script.CATCHERS[name]!) {
      assert.ok(fs.existsSync(path.join(root, 'src', f.replace(/\.js$/, '.ts'))), `${name}: catching test ${f} does not exist`);
    }
  }
});
