// Internal modules exported for the test-suite (dist/lib.js); not a public API.
// Add exports here, one line per module.
export * from './oci/default-spec';
export * from './oci/validate-config';
export * from './linux/mount-options';
export * from './util/secure-join';
export * from './hooks/run-hooks';
export * from './util/errors';
export * from './cgroups/devices';
export * from './cgroups/bpf-devices';
export * from './cgroups/cgroups-path';
export * from './cgroups/systemd/properties';
export * from './cgroups/units';
export * from './cgroups/resources-v2';
export { Plan } from './plan/plan';
export { encodePlan, planBytes } from './plan/run-plan';
export { TRAMPOLINE_X86_64 } from './plan/trampoline-x86_64';
export { TRAMPOLINE_AARCH64 } from './plan/trampoline-aarch64';
export { LIGHT_COMMANDS } from './cli/commands-light';
export { criuSwrk, encodeRequest, decodeResponse } from './criu/swrk';
