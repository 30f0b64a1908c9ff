/** Paced (open-loop) calls at `rate` per second, each timed from its own start; returns microseconds. */
export async function pacedLatency(
  call: (n: number) => Promise<unknown>,
  rate: number,
  calls: number,
): Promise<number[]> {
  const samples: number[] = [];
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let n = 0; n < calls; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t = process.hrtime.bigint();
    pending.push(
      call(n).then(() => {
        samples.push(Number(process.hrtime.bigint() - t) / 1000);
      }),
    );
  }
  await Promise.all(pending);
  return samples;
}
