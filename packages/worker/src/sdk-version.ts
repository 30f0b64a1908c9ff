/** Version of this SDK, sent as the handshake's `sdk_version` (kept equal to package.json by a test). */
export const SDK_VERSION = '0.1.0';

/** Heartbeat `type` of workers built with this SDK. */
export const WORKER_TYPE = 'capstan-ts';
