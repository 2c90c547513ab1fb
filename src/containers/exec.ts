/**
 * Exec instances (docker exec): created, then started once, then remembered
 * with their exit code for `docker exec` to read back, as Docker keeps them.
 */
import { randomBytes } from '../model/random.js';
import { notFound } from '../errors.js';

export interface ExecSpec {
  args: string[];
  env: string[];
  tty: boolean;
  attachStdin: boolean;
  workingDir: string;
}

export interface ExecInstance extends ExecSpec {
  id: string;
  containerId: string;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

export class ExecInstances {
  private readonly instances = new Map<string, ExecInstance>();

  create(containerId: string, spec: ExecSpec): ExecInstance {
    const instance: ExecInstance = { ...spec, id: randomBytes(32).toString('hex'), containerId, running: false, exitCode: null, pid: 0 };
    this.instances.set(instance.id, instance);
    return instance;
  }

  get(id: string): ExecInstance {
    const instance = this.instances.get(id);
    if (instance === undefined) throw notFound(`No such exec instance: ${id}`);
    return instance;
  }

  /** Marks the instance running until exitCode settles (a failed launch counts as 126, as Docker's). */
  track(instance: ExecInstance, exitCode: Promise<number>): void {
    instance.running = true;
    void exitCode.then(
      (code) => {
        instance.exitCode = code;
        instance.running = false;
      },
      () => {
        instance.exitCode = 126;
        instance.running = false;
      },
    );
  }

  /** A removed container's instances go with it. */
  forgetContainer(containerId: string): void {
    for (const [id, instance] of this.instances) if (instance.containerId === containerId) this.instances.delete(id);
  }
}
