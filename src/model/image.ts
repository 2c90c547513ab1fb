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

/** One step of how an image was made (Docker's config `history`), oldest first. */
export interface ImageHistoryEntry {
  created: string;
  createdBy: string;
  comment: string;
  /** Bytes the step's layer holds; 0 for a step that made no layer. */
  size: number;
  emptyLayer: boolean;
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
  /** The image a commit was made from (docker history walks it); absent for imports and loads. */
  parent?: string;
  /** Absent in images written before skiff kept it: one step, the image itself. */
  history?: ImageHistoryEntry[];
}

export function emptyImageConfig(): ImageConfig {
  return { env: [], cmd: null, entrypoint: null, workingDir: '', exposedPorts: [], labels: {} };
}
