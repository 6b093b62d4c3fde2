// Reading a file of the image from the host side (the parent). The image decides what is
// there: a FIFO would block the open or the read forever, a device (/etc/passwd linked
// to /dev/zero) would never end. Only a regular file of a sane size is read.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { ConfigError } from '../util/errors';
import { fileTypeName, S_IFMT } from './file-checks';

const MAX_BYTES = 16 << 20;

/**
 * The text of `hostPath` (a path already resolved inside the rootfs), or undefined when
 * it does not exist; anything but a regular file is refused naming `what` ("/etc/passwd").
 */
export function readImageFile(hostPath: string, what: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(hostPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError(`${what} in the rootfs: ${code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new ConfigError(`${what} in the rootfs is ${fileTypeName(st.mode & S_IFMT)}, it must be a regular file`);
    }
    if (st.size > MAX_BYTES) throw new ConfigError(`${what} in the rootfs is ${st.size} bytes, more than the ${MAX_BYTES} tsrt reads`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
