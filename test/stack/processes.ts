import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** A child process of the test run, its output in a log file. */
export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
  /** the exit code once it has exited (-1 for a signal), else null */
  exitCode(): number | null;
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once, as a crash; resolves once it has exited. */
  kill(): Promise<void>;
  log(): string;
}

// Every child still running when this process exits is killed, whatever path the exit takes
// (a failed beforeAll, a jest timeout): no server, worker or API outlives the test run.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function startProcess(o: { name: string; command: string; args: string[]; env: NodeJS.ProcessEnv; logFile: string; cwd?: string }): ManagedProcess {
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(o.command, o.args, { env: o.env, cwd: o.cwd, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  live.add(child);
  let code: number | null = null;
  const exited = new Promise<void>((res) => {
    child.once('exit', (c, signal) => {
      code = c ?? (signal ? -1 : 0);
      live.delete(child);
      res();
    });
    // A command that cannot start emits 'error' and no 'exit'.
    child.once('error', () => {
      code = code ?? -1;
      live.delete(child);
      res();
    });
  });
  const log = () => {
    try {
      return readFileSync(o.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    name: o.name,
    pid: child.pid ?? -1,
    logFile: o.logFile,
    exitCode: () => code,
    exited,
    log,
    async kill() {
      if (code !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 15_000) {
      if (code !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** The last `n` characters of a process's log, for error messages. */
export function logTail(p: ManagedProcess, n = 3000): string {
  const s = p.log();
  return s.length > n ? `…${s.slice(-n)}` : s;
}

/**
 * Polls `check` every 250 ms until it returns true, failing after `timeoutMs` or as soon as
 * `p` exits (with its log in the error).
 */
export async function waitFor(what: string, p: ManagedProcess | null, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  for (;;) {
    if (p && p.exitCode() !== null) throw new Error(`${p.name} exited with code ${p.exitCode()} while waiting for ${what}:\n${logTail(p)}`);
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms${lastErr ? ` (${String(lastErr)})` : ''}${p ? `\n${p.name} log:\n${logTail(p)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
