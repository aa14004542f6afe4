// Installs the benchmark's peers (lmdb, classic-level, better-sqlite3: native modules, minutes
// to build) into bench/node_modules from bench/package-lock.json, only when they are missing or
// the lock file changed since they were installed. `npm run bench` runs it first; `npm ci` at the
// top never installs them.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const installed = new URL('node_modules/.package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(new URL('package-lock.json', import.meta.url), 'utf8'));
const want = (p) => Object.fromEntries(Object.entries(p.packages).filter(([k]) => k !== '').map(([k, v]) => [k, v.version]));
const current = existsSync(installed) && JSON.stringify(want(JSON.parse(readFileSync(installed, 'utf8')))) === JSON.stringify(want(lock));
if (!current) {
  console.error('bench: installing the peers (lmdb, classic-level, better-sqlite3) into bench/node_modules');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
}
