// A small exact parser for the argument shapes callers send on the hot path, so most
// invocations never load yargs (about 10 ms of start-up). Anything it does not fully
// understand (help, an unknown flag, a missing argument) returns undefined and yargs
// takes over, with its messages.
import type { CommandSpec, FlagSpec, Parsed } from './command-spec';

function findFlag(flags: FlagSpec[], token: string): FlagSpec | undefined {
  if (token.startsWith('--')) return flags.find((f) => f.name === token.slice(2));
  return flags.find((f) => f.alias === token.slice(1));
}

function convert(f: FlagSpec, v: string): unknown {
  if (f.type === 'number') {
    const n = Number(v);
    return Number.isFinite(n) && v.trim() !== '' ? n : undefined;
  }
  if (f.type === 'boolean') return v === 'true' ? true : v === 'false' ? false : undefined;
  if (f.choices && !f.choices.includes(v)) return undefined;
  return v;
}

export function fastParse(argv: string[], globals: FlagSpec[], commands: CommandSpec[]): { cmd: CommandSpec; args: Parsed } | undefined {
  const args: Parsed = {};
  for (const f of globals) if (f.default !== undefined) args[f.name] = f.default;
  let cmd: CommandSpec | undefined;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') return undefined;
    if (tok.startsWith('-') && tok.length > 1) {
      if (tok === '--help' || tok === '-h' || tok === '--version' || tok === '-v') return undefined;
      const eq = tok.indexOf('=');
      const name = eq > 0 ? tok.slice(0, eq) : tok;
      const f = findFlag(cmd ? [...cmd.flags, ...globals] : globals, name);
      if (!f) return undefined;
      let value: unknown;
      if (f.type === 'array') {
        const v = eq > 0 ? tok.slice(eq + 1) : argv[++i];
        if (v === undefined) return undefined;
        args[f.name] = [...((args[f.name] as string[] | undefined) ?? []), v];
        continue;
      }
      if (eq > 0) value = convert(f, tok.slice(eq + 1));
      else if (f.type === 'boolean') value = true;
      else if (i + 1 < argv.length) value = convert(f, argv[++i]!);
      if (value === undefined) return undefined;
      args[f.name] = value;
      continue;
    }
    if (!cmd) {
      cmd = commands.find((c) => c.name === tok);
      if (!cmd) return undefined;
      for (const f of cmd.flags) if (f.default !== undefined) args[f.name] = f.default;
      continue;
    }
    positionals.push(tok);
  }
  if (!cmd) return undefined;
  const specs = cmd.positionals.filter((p) => !p.variadic);
  if (positionals.length > specs.length) return undefined;
  for (let i = 0; i < specs.length; i++) {
    const p = specs[i]!;
    if (i >= positionals.length) {
      if (p.required) return undefined;
      continue;
    }
    args[p.name] = positionals[i];
  }
  return { cmd, args };
}

/**
 * For a command with a variadic positional (exec ID CMD ARGS...), everything after the
 * fixed positionals is the command, flags included (`exec ID ls -la`), as Go's flag
 * parsing stops at the first argument. Returns the argv to parse and that tail.
 */
export function splitVariadicTail(argv: string[], globals: FlagSpec[], commands: CommandSpec[]): { head: string[]; tail: string[] | undefined } {
  let cmd: CommandSpec | undefined;
  let fixed = 0;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      return cmd ? { head: argv.slice(0, i), tail: argv.slice(i + 1) } : { head: argv, tail: undefined };
    }
    if (tok.startsWith('-') && tok.length > 1) {
      // After the fixed positionals a flag belongs to the tail too (`ps ID -o pid,comm`).
      if (cmd && fixed === 0) return { head: argv.slice(0, i), tail: argv.slice(i) };
      const f = findFlag(cmd ? [...cmd.flags, ...globals] : globals, tok.includes('=') ? tok.slice(0, tok.indexOf('=')) : tok);
      if (f && f.type !== 'boolean' && !tok.includes('=')) i++;
      continue;
    }
    if (!cmd) {
      cmd = commands.find((c) => c.name === tok);
      if (!cmd || !cmd.positionals.some((p) => p.variadic)) return { head: argv, tail: undefined };
      fixed = cmd.positionals.filter((p) => !p.variadic).length;
      continue;
    }
    if (fixed === 0) return { head: argv.slice(0, i), tail: argv.slice(i) };
    fixed--;
  }
  return { head: argv, tail: cmd ? [] : undefined };
}

/** Go-style single-dash long flags (-no-subreaper) become --no-subreaper. */
export function normalizeLongFlags(argv: string[], known: Set<string>): string[] {
  return argv.map((t) => {
    const m = /^-([a-z][a-z-]+)(=.*)?$/.exec(t);
    return m && known.has(m[1]!) ? `-${t}` : t;
  });
}
