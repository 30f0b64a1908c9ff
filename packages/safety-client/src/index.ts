/**
 * @capstan/safety-client — the scheduler's client of the safety kernel: Check over gRPC or Connect with a
 * per-call timeout, a circuit breaker, a decision cache keyed by snapshot + request hash, and the active snapshot
 * followed from `capstan.policy.changed`.
 */
export { codeName, isKernelFailure } from './classify-error.js';
export {
  createSafetyKernelPolicy,
  type SafetyKernelCircuitState,
  type SafetyKernelPolicy,
} from './create-safety-kernel-policy.js';
export { isCacheableDecision } from './decision-cache.js';
export {
  InvalidSafetyClientOptionsError,
  SafetyKernelAbortedError,
  SafetyKernelCircuitOpenError,
  SafetyKernelClosedError,
  SafetyKernelError,
  SafetyKernelRequestError,
  SafetyKernelTimeoutError,
  SafetyKernelUnavailableError,
} from './errors.js';
export {
  createGrpcUnaryTransport,
  type GrpcUnaryTransport,
  type GrpcUnaryTransportOptions,
} from './grpc-unary-transport.js';
export { CircuitStateValue, SafetyClientMetricNames } from './safety-client-metrics.js';
export {
  type ActiveSnapshot,
  type ResolvedSafetyKernelPolicyOptions,
  resolveSafetyKernelPolicyOptions,
  SAFETY_CLIENT_DEFAULTS,
  type SafetyKernelBreakerOptions,
  type SafetyKernelCacheOptions,
  type SafetyKernelPolicyOptions,
  type SafetyKernelProtocol,
} from './safety-kernel-policy-options.js';
