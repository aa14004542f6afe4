#!/usr/bin/env node
import { run } from '../dist/cli/main.js';
process.exitCode = await run('checkpoint', process.argv.slice(2));
