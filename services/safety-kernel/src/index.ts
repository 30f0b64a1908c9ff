/**
 * @capstan/safety-kernel-service — the deployable safety kernel: `cordum.agent.v1.SafetyKernel`,
 * `capstan.policy.v1.PolicyAdmin` and `grpc.health.v1.Health` over Connect, gRPC and gRPC-Web on one port.
 */
export { BUILTIN_DENY_ALL_BUNDLE } from './builtin-bundle.js';
export { isBundleCacheable } from './bundle-cacheable.js';
export { PolicyFileError, SafetyKernelError, SnapshotNotFoundError } from './errors.js';
export {
  type MultiProtocolServer,
  type MultiProtocolServerOptions,
  startMultiProtocolServer,
} from './multi-protocol-server.js';
export { safetyKernelConfigSpec } from './safety-kernel-config.js';
export {
  type SafetyKernelService,
  type SafetyKernelServiceConfig,
  type SafetyKernelServiceDeps,
  startSafetyKernelService,
} from './start-safety-kernel-service.js';
