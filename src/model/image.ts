/** An image as skiff keeps it: a rootfs directory and its config (camelCase; Docker's JSON only in api/wire). */

export interface ImageConfig {
  env: string[];
  cmd: string[] | null;
  entrypoint: string[] | null;
  workingDir: string;
  /** EXPOSE, as "80/tcp". */
  exposedPorts: string[];
  labels: Record<string, string>;
}

export interface Image {
  /** 'sha256:<64 hex>' */
  id: string;
  repoTags: string[];
  created: string;
  size: number;
  rootfsPath: string;
  config: ImageConfig;
  comment: string;
  /** docker commit --author; absent for images made otherwise. */
  author?: string;
}

export function emptyImageConfig(): ImageConfig {
  return { env: [], cmd: null, entrypoint: null, workingDir: '', exposedPorts: [], labels: {} };
}
