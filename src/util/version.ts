// The package version, read once from package.json (two levels up from dist/util/).

import { createRequire } from 'node:module';

/** The version in package.json, or 'unknown' when it cannot be read. */
export const VERSION: string = (() => {
  try {
    const pkg = createRequire(import.meta.url)('../../package.json') as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();
