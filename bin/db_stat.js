#!/usr/bin/env node
import { run } from '../dist/cli/main.js';
process.exitCode = await run('stat', process.argv.slice(2));
