import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { PolicyFileError } from './errors.js';
import { POLICY_FILE_DEBOUNCE_MS, POLICY_FILE_POLL_MS } from './limits.js';

/** A policy file's text and when it was last modified. */
export interface PolicyFileContent {
  yaml: string;
  modifiedAt: Date;
}

/** Reads the policy file. @throws {PolicyFileError} naming the file and what went wrong. */
export async function readPolicyFile(path: string): Promise<PolicyFileContent> {
  try {
    const [yaml, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { yaml, modifiedAt: info.mtime };
  } catch (cause) {
    throw new PolicyFileError(
      `cannot read policy file ${path} (CAPSTAN_POLICY_FILE): ${(cause as Error).message}; expected a readable policy bundle YAML file`,
      { cause },
    );
  }
}

/** Options of {@link watchPolicyFile}. */
export interface PolicyFileWatchOptions {
  /** Text the caller already loaded; only different text triggers `onChange`. */
  initialYaml: string;
  /** Called with the new text after it changed (never concurrently); a throw means "try again later". */
  onChange(yaml: string): Promise<void>;
  logger: Logger;
  /**
   * Quiet time after the last change event before the file is read.
   * @default 100
   */
  debounceMs?: number;
  /**
   * Polling interval backing up fs.watch.
   * @default 2000
   */
  pollMs?: number;
}

/** A running watch. */
export interface PolicyFileWatcher {
  close(): void;
}

/**
 * Watches a policy file for changes. Editors often replace the file (write a temp file, rename it over), which
 * ends a watch on the old inode, so the directory is watched and events are filtered by name; a slow poll covers
 * file systems without change events. Events are debounced and only a changed text is reported; a file that is
 * briefly missing (mid-replace) is ignored until it reappears.
 */
export function watchPolicyFile(path: string, options: PolicyFileWatchOptions): PolicyFileWatcher {
  const debounceMs = options.debounceMs ?? POLICY_FILE_DEBOUNCE_MS;
  const pollMs = options.pollMs ?? POLICY_FILE_POLL_MS;
  const name = basename(path);
  let lastYaml = options.initialYaml;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const check = () => {
    running = running.then(async () => {
      if (closed) return;
      let yaml: string;
      try {
        yaml = await readFile(path, 'utf8');
      } catch {
        return;
      }
      if (yaml === lastYaml || closed) return;
      const previous = lastYaml;
      lastYaml = yaml;
      try {
        await options.onChange(yaml);
      } catch (err) {
        // Not the bundle's fault (e.g. the database is down): forget the text so the next poll tries again.
        lastYaml = previous;
        options.logger.error({ err, file: path }, 'policy file reload failed; retrying at the next poll');
      }
    });
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(check, debounceMs);
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), (_event, filename) => {
      if (!filename || filename === name) schedule();
    });
    watcher.on('error', (err) => options.logger.warn({ err, file: path }, 'policy file watch failed; polling only'));
  } catch (err) {
    options.logger.warn({ err, file: path }, 'cannot watch the policy file directory; polling only');
  }
  const poll = setInterval(check, pollMs);
  poll.unref();

  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      watcher?.close();
    },
  };
}
