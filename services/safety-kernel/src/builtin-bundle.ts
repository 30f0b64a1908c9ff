/**
 * The bundle a kernel activates when nothing else is available (no policy file, nothing activated in the
 * database): it denies everything, so a kernel started without policy fails closed rather than open.
 */
export const BUILTIN_DENY_ALL_BUNDLE = `# Built-in Capstan safety-kernel bundle: no policy was configured, so every request is denied.
# Load a bundle with CAPSTAN_POLICY_FILE=<file> or upload one through capstan.policy.v1.PolicyAdmin/UploadBundle.
default_decision: deny
default_reason: no policy bundle loaded; set CAPSTAN_POLICY_FILE or upload a bundle with the admin API
rules: []
`;

/** File name used for the built-in bundle in messages and SnapshotInfo. */
export const BUILTIN_BUNDLE_FILE = '<built-in deny-all>';
