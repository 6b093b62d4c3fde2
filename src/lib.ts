// Internal modules exported for the test-suite (dist/lib.js); not a public API.
// Add exports here, one line per module.
export * from './oci/default-spec';
