import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export interface LocalProcess {
  url: string;
  operatorKey: string;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

const ROOT = join(import.meta.dirname, '..', '..');

/** `npm start`'s own entry point, as a child process on a free port, with its data in `dataDir`. */
export async function startLocalProcess(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<LocalProcess> {
  const child: ChildProcess = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['local/start.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_LOG_LEVEL: 'warn',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const deadline = Date.now() + 30_000;
  while (!/Operator key\s+\S+/.test(output)) {
    if (child.exitCode !== null) throw new Error(`local mode exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`local mode did not start within 30 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = /API\s+(http:\/\/\S+)/.exec(output)?.[1] as string;
  const operatorKey = /Operator key\s+(\S+)/.exec(output)?.[1] as string;
  return {
    url,
    operatorKey,
    output: () => output,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
