import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseEnvFile } from '../stack/endpoints.js';

const exec = promisify(execFile);

/**
 * Stops and starts one service of the native stack through stack/stack.sh, with the caller's
 * environment (LETHE_STACK_DIR and the LETHE_*_PORT variables say which stack).
 */
export class StackControl {
  constructor(
    private readonly root: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  private async stack(...args: string[]): Promise<string> {
    try {
      const { stdout, stderr } = await exec('stack/stack.sh', args, { cwd: this.root, env: this.env, timeout: 180_000 });
      return `${stdout}${stderr}`;
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`stack/stack.sh ${args.join(' ')} failed: ${e.message.trim()}\n${e.stdout ?? ''}`);
    }
  }

  down(service: string): Promise<string> {
    return this.stack('down', service);
  }

  /** Starts services again (a running one is left alone); a failed start is tried twice more before the run gives up. */
  async up(...services: string[]): Promise<string> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.stack('up', ...services);
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  }

  /**
   * Refuses to go on unless the endpoints in the environment are the ones this stack.sh serves:
   * the run stops services, and must stop the ones it tests against, nobody else's.
   */
  async assertSameStack(env: Record<string, string | undefined>): Promise<void> {
    const served = parseEnvFile(await this.stack('env'));
    const differing = Object.entries(served).filter(([name, value]) => env[name] !== value);
    if (differing.length > 0) {
      throw new Error(
        `the endpoints in the environment are not the stack stack/stack.sh controls (${differing.map(([name, value]) => `${name}=${env[name] ?? '(unset)'}, stack.sh says ${value}`).join('; ')}): ` +
          'export the same LETHE_STACK_DIR and LETHE_*_PORT variables the stack was started with',
      );
    }
    await this.stack('status').catch((error: Error) => {
      throw new Error(`not every service of the stack is healthy before the run: ${error.message}`);
    });
  }
}
