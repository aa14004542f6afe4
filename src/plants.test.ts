// The planted-bug yardstick's registry (scripts/planted.mjs, docs/TESTING.md): every plant has
// marker lines in the engine and catching tests that exist, every marker names a plant, applying
// a plant rewrites exactly its marker lines, and the engine itself holds no planted bug and no
// switch for one (plants exist only in the copies scripts/planted.mjs builds).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Script {
  PLANTS: Record<string, { breaks: string; catchers: string[] }>;
  MARKER: RegExp;
  sourceFiles(dir: string): string[];
  applyPlant(text: string, name: string): { text: string; count: number };
}

test('every planted bug has markers in src/ and existing catching tests; every marker names a plant; the engine has no plant switch', async () => {
  const script = (await import(pathToFileURL(path.join(root, 'scripts/planted.mjs')).href)) as Script;
  const names = Object.keys(script.PLANTS);
  assert.ok(names.length >= 10, `only ${names.length} planted bugs`);
  const engine = script.sourceFiles(path.join(root, 'src')).filter((f) => !f.endsWith('.test.ts') && !f.includes(`${path.sep}testing${path.sep}`));
  const markers = new Map<string, number>();
  for (const f of engine) {
    const text = fs.readFileSync(f, 'utf8');
    assert.ok(!/CAIRN_PLANT|planted\(/.test(text), `${path.relative(root, f)} reads a plant switch: plants are applied to a build copy only`);
    for (const line of text.split('\n')) {
      const m = script.MARKER.exec(line);
      if (m === null) continue;
      assert.ok(m[3]! in script.PLANTS, `${path.relative(root, f)}: marker of an unknown plant: ${line.trim()}`);
      markers.set(m[3]!, (markers.get(m[3]!) ?? 0) + 1);
      // Applied, the marker line becomes its replacement and nothing else changes.
      const { text: planted, count } = script.applyPlant(line, m[3]!);
      assert.equal(count, 1);
      assert.equal(planted.trim(), m[4]!.trim());
    }
  }
  for (const name of names) {
    assert.ok((markers.get(name) ?? 0) > 0, `plant ${name} has no // PLANT(${name}): marker in src/`);
    for (const f of script.PLANTS[name]!.catchers) {
      assert.ok(fs.existsSync(path.join(root, 'src', f.replace(/\.js$/, '.ts'))), `${name}: catching test ${f} does not exist`);
    }
  }
  // A plant touches only its own lines.
  const sample = 'a();\nb(); // PLANT(log-skip-fsync):\n// PLANT(fsync-retry): c();\n';
  assert.deepEqual(script.applyPlant(sample, 'log-skip-fsync'), { text: 'a();\n\n// PLANT(fsync-retry): c();\n', count: 1 });
  assert.deepEqual(script.applyPlant(sample, 'fsync-retry'), { text: 'a();\nb(); // PLANT(log-skip-fsync):\nc();\n', count: 1 });
});
