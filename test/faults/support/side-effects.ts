import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What a fault-suite job asks its worker to do (the job input, stored behind `context_ptr`). */
export interface FaultJobInput {
  /** How long the first attempt works, in ms. @default 0 */
  sleepMs?: number;
  /** How long later attempts work, in ms. @default `sleepMs` */
  retrySleepMs?: number;
  /** `fatal`: throw JobFailure.fatal; `retryable-once`: fail the first attempt retryably. @default none */
  fail?: 'fatal' | 'retryable-once';
}

/** One line a fault worker appends to its effects file: a job attempt started, or did its work. */
export interface SideEffect {
  jobId: string;
  attempt: number;
  epoch: number;
  workerId: string;
  /** `start`: the handler began; `effect`: the handler did its work (the side effect the job exists for). */
  phase: 'start' | 'effect';
  /** Wall-clock ms. */
  at: number;
}

/** File name of a worker's effects file inside a run directory. */
export function effectsFileOf(runDir: string, workerId: string): string {
  return join(runDir, `effects-${workerId}.jsonl`);
}

/**
 * Reads every worker's effects file of a run directory. A worker killed in the middle of a write can leave a torn
 * last line; such a line is skipped (the attempt it described never finished its write, so it is not an effect).
 */
export async function readSideEffects(runDir: string): Promise<SideEffect[]> {
  const files = (await readdir(runDir)).filter((f) => f.startsWith('effects-') && f.endsWith('.jsonl'));
  const effects: SideEffect[] = [];
  for (const file of files) {
    const text = await readFile(join(runDir, file), 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        effects.push(JSON.parse(line) as SideEffect);
      } catch {
        // torn last line of a killed worker
      }
    }
  }
  return effects.sort((a, b) => a.at - b.at);
}
