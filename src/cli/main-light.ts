// The light commands' entry point (dist/tsrt-light.js): the launcher runs it for state,
// list, kill, delete, start, pause, resume, ps, events and features, and dist/tsrt.js
// for everything else (help and unknown commands included).
import { LIGHT_COMMANDS } from './commands-light';
import { runCli } from './cli';

runCli(Object.values(LIGHT_COMMANDS));
