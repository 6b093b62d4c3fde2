// Builds dist/tsrt: one bundled, executable file. koffi stays external because it
// ships a native addon that must be loaded from node_modules.
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compileSchemas = join(root, 'scripts', 'compile-schemas.mjs');
if (existsSync(compileSchemas)) await import(compileSchemas);

mkdirSync(join(root, 'dist'), { recursive: true });
const out = join(root, 'dist', 'tsrt');
await build({
  entryPoints: [join(root, 'src', 'cli', 'main.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['koffi'],
  // env -S -u: node must not pay for NODE_EXTRA_CA_CERTS / NODE_OPTIONS of the caller.
  banner: { js: '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS -u NODE_OPTIONS node' },
  legalComments: 'none',
  logLevel: 'warning',
});
chmodSync(out, 0o755);

// dist/lib.js: internal modules for the unit tests (node --test spec-tests/).
await build({
  entryPoints: [join(root, 'src', 'lib.ts')],
  outfile: join(root, 'dist', 'lib.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['koffi'],
  logLevel: 'warning',
});
