// tsrt's entry point (dist/tsrt.js): every command.
import { COMMANDS } from './commands';
import { runCli } from './cli';

runCli(COMMANDS);
