export { cliVersion } from './cli-version.js';
export { devConfigSpec } from './dev/dev-config.js';
export { DEV_INFO_FILE, type DevInfo, READY_PREFIX } from './dev/dev-info.js';
export { DEV_APT_INSTALL, MissingExecutableError } from './dev/find-executable.js';
export { type DevCommandOptions, runDevCommand } from './dev/run-dev.js';
export { type DevContext, type DevService, devServices, type RunningDevService } from './dev/services.js';
export { type DevConfig, type DevStack, type StartDevOptions, startDev } from './dev/start-dev.js';
export { type MigrateCommandOptions, migrateConfigSpec, runMigrateCommand } from './migrate/run-migrate.js';
export { createProgram } from './program.js';
