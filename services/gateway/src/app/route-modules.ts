import { agentApiKeyRoutes } from '../agents/agent-api-key-routes.js';
import { agentRoutes } from '../agents/agent-routes.js';
import { presenceSharingModule } from '../agents/presence-sharing-module.js';
import { apiKeyRoutes } from '../api-keys/api-key-routes.js';
import { auditRoutes } from '../audit/audit-routes.js';
import { authRoutes } from '../auth/auth-routes.js';
import { dlqRoutes } from '../dlq/dlq-routes.js';
import { healthRoutes } from '../health/health-routes.js';
import type { GatewayRouteModule } from '../http/route-module.js';
import { jobRoutes } from '../jobs/job-routes.js';
import { sseRoutes } from '../streaming/sse-routes.js';
import { websocketRoutes } from '../streaming/ws-routes.js';
import { userRoutes } from '../users/user-routes.js';
import { workerRoutes } from '../workers/worker-routes.js';

/** Every route module the gateway serves, in registration order. Add new modules (jobs, DLQ, workers…) here. */
export const ROUTE_MODULES: readonly GatewayRouteModule[] = [
  healthRoutes,
  authRoutes,
  apiKeyRoutes,
  userRoutes,
  agentRoutes,
  agentApiKeyRoutes,
  auditRoutes,
  jobRoutes,
  sseRoutes,
  dlqRoutes,
  workerRoutes,
  websocketRoutes,
  presenceSharingModule,
];
