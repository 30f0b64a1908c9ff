// A safety-kernel replica in its own process, for benchmarks. Configured like the deployable, from the
// environment (NATS_URL, REDIS_URL, DATABASE_URL, SAFETY_KERNEL_PORT, CAPSTAN_POLICY_FILE, ...).
import { loadConfig } from '@capstan/config';
import { safetyKernelConfigSpec, startSafetyKernelService } from '@capstan/safety-kernel-service';
import { pino } from 'pino';
import { serveRunner } from '../lib/proc-ipc.js';

const config = loadConfig(safetyKernelConfigSpec);
const service = await startSafetyKernelService(config, { logger: pino({ level: 'warn' }) });
process.send?.({ ready: true, url: service.url });
serveRunner(() => service.stop());
