import { afterAll, afterEach, beforeAll } from 'vitest';
import { type FaultStack, type FaultStackOptions, startFaultStack } from './fault-stack.js';

/**
 * One fault stack for all the tests of a file (started before the first, stopped after the last): starting the
 * Capstan processes from source costs seconds, so the faults of a file share them. When a test fails, the run
 * directory (`.capstan/faults/...`: process logs, routing file, effects) is kept and its path printed.
 */
export function useFaultStack(
  options: FaultStackOptions | (() => Promise<FaultStackOptions>),
  setup?: (stack: FaultStack) => Promise<void>,
): () => FaultStack {
  let stack: FaultStack | undefined;
  let failed = false;
  beforeAll(async () => {
    stack = await startFaultStack(typeof options === 'function' ? await options() : options);
    try {
      await setup?.(stack);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    if (failed && stack) console.log(`fault run kept for inspection: ${stack.runDir}`);
    await stack?.stop({ keepRunDir: failed });
    stack = undefined;
  });
  return () => {
    if (!stack) throw new Error('useFaultStack: the stack exists only inside the tests of its file');
    return stack;
  };
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The stack most faults run on: one scheduler replica (`scheduler-a`) and two SDK worker processes. */
export async function startSchedulerAndTwoWorkers(
  stack: FaultStack,
  workerOptions?: Parameters<FaultStack['startWorker']>[1],
): Promise<void> {
  await Promise.all([
    stack.startScheduler('scheduler-a'),
    stack.startWorker('worker-1', workerOptions),
    stack.startWorker('worker-2', workerOptions),
  ]);
}
