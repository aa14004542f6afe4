#!/usr/bin/env node
import { run } from '../dist/cli/main.js';
const [sub, ...rest] = process.argv.slice(2);
process.exitCode = await run(sub, rest, undefined, { umbrella: true });
