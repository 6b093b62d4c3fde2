// Which CRIU tsrt runs: `criu` in $PATH, as runc (TSRT_CRIU overrides it, for tests of a missing or another CRIU).
export function criuBinary(): string {
  return process.env.TSRT_CRIU || 'criu';
}
