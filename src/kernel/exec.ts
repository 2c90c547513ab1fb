import { execFile } from 'node:child_process';
import { SkiffError } from '../errors.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's standard input (ip -batch -, nft -f -). */
  input?: string;
  /** Milliseconds before the command is killed. */
  timeoutMs?: number;
}

/**
 * Runs one program with an argument array (never a shell) and resolves with its
 * output; a non-zero exit becomes a SkiffError naming the command and its stderr.
 */
export function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(program, args, { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const detail = (stderr || error.message).trim();
        reject(new SkiffError('unavailable', `${program} ${args.join(' ')}: ${detail}`, { cause: error }));
        return;
      }
      resolve({ stdout, stderr });
    });
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined); // the program exiting before reading its input is reported by its exit code
      child.stdin?.end(options.input);
    }
  });
}

/** Runs a program inside the network namespace bound at netnsPath. */
export function runInNetns(netnsPath: string, program: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return run('nsenter', [`--net=${netnsPath}`, '--', program, ...args], options);
}
