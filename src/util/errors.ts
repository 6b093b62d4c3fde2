// Typed errors. Every error tsrt reports carries a stable code and a message a user can
// act on: lower-case, no trailing period, naming the path / flag / syscall involved.

export class TsrtError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** config.json is malformed or asks for something tsrt cannot honour. */
export class ConfigError extends TsrtError {
  constructor(message: string) {
    super('EBADCONFIG', message);
  }
}

/** A command-line flag or argument is wrong. */
export class UsageError extends TsrtError {
  constructor(message: string) {
    super('EUSAGE', message);
  }
}

/** A container id does not exist, already exists, or is in the wrong state. */
export class ContainerError extends TsrtError {
  constructor(code: 'ENOTEXIST' | 'EEXIST' | 'ESTATE' | 'ELOCKED' | 'EDAMAGED', message: string) {
    super(code, message);
  }
}

/** A system call failed; errno is the symbolic name (ENOENT). */
export class SyscallError extends TsrtError {
  readonly errno: number;
  constructor(what: string, errno: number, errnoName: string, detail: string) {
    super(errnoName, `${what}: ${errnoName} (${detail})`);
    this.errno = errno;
  }
}

/** A hook exited non-zero, could not be started, or timed out. */
export class HookError extends TsrtError {
  constructor(message: string) {
    super('EHOOK', message);
  }
}
