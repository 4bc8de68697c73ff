#!/usr/bin/env node
// The `lethe` command: runs the compiled CLI (`npm run build` writes dist/).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv);
// A finished command exits even if a driver left a socket open: a supervisor restarts a failed
// `lethe run` only once it has exited. The timer is unref'd, so it never delays a clean exit.
setTimeout(() => process.exit(), 2000).unref();
