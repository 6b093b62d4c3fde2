// `spec`: write a default config.json into the bundle directory, refusing to overwrite.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { specJson } from '../oci/default-spec';
import { UsageError } from '../util/errors';

export function writeDefaultSpec(bundle: string, rootless: boolean): void {
  const file = join(bundle, 'config.json');
  if (existsSync(file)) throw new UsageError('File config.json exists. Remove it first');
  writeFileSync(file, specJson({ rootless }));
}
