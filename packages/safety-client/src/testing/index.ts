/**
 * @capstan/safety-client/testing — a real Connect `SafetyKernel` server with scripted answers, for tests of the
 * client and of the scheduler's policy gate (start it, stop it to simulate an outage, start it again).
 */
export {
  startTestSafetyKernel,
  TEST_ALLOW,
  type TestDecide,
  type TestDecision,
  type TestSafetyKernel,
  type TestSafetyKernelOptions,
} from './test-safety-kernel.js';
