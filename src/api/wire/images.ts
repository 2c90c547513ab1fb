/** Docker's image JSON from skiff's images. */
import type { Image, ImageConfig } from '../../model/image.js';
import type { HistoryItem } from '../../runtime/image-history.js';
import { exposedPortsToWire } from './ports.js';

function configToWire(config: ImageConfig): Record<string, unknown> {
  return {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: config.env,
    Cmd: config.cmd,
    Entrypoint: config.entrypoint,
    WorkingDir: config.workingDir,
    ExposedPorts: exposedPortsToWire(config.exposedPorts),
    Labels: config.labels,
    Image: '',
    Volumes: null,
    OnBuild: null,
  };
}

export function imageToWire(image: Image): Record<string, unknown> {
  return {
    Id: image.id,
    RepoTags: image.repoTags,
    RepoDigests: [],
    Parent: image.parent ?? '',
    Comment: image.comment,
    Created: image.created,
    Container: '',
    DockerVersion: '',
    Author: image.author ?? '',
    Architecture: 'amd64',
    Os: 'linux',
    Size: image.size,
    VirtualSize: image.size,
    Config: configToWire(image.config),
    // An image is one rootfs directory that containers mount overlayfs over.
    GraphDriver: { Name: 'overlay', Data: { LowerDir: image.rootfsPath } },
    RootFS: { Type: 'layers', Layers: [] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

export function imageSummaryToWire(image: Image): Record<string, unknown> {
  return {
    Id: image.id,
    ParentId: image.parent ?? '',
    // Docker's way of marking a dangling image; the CLI lists an image without tags only when it sees both.
    RepoTags: image.repoTags.length > 0 ? image.repoTags : ['<none>:<none>'],
    RepoDigests: image.repoTags.length > 0 ? null : ['<none>@<none>'],
    Created: Math.floor(Date.parse(image.created) / 1000),
    Size: image.size,
    VirtualSize: image.size,
    SharedSize: -1,
    Labels: image.config.labels,
    Containers: -1,
  };
}

/** docker rmi's and image prune's report: `Untagged: x` / `Deleted: sha256:…` lines as Docker's {Untagged}/{Deleted} items. */
export function imageDeleteLinesToWire(lines: readonly string[]): Array<{ Untagged: string } | { Deleted: string }> {
  return lines.map((line) => (line.startsWith('Untagged: ') ? { Untagged: line.slice('Untagged: '.length) } : { Deleted: line.slice('Deleted: '.length) }));
}

/** GET /images/{name}/history: Created in seconds, Tags null when there are none, as Docker's. */
export function historyToWire(items: readonly HistoryItem[]): Array<Record<string, unknown>> {
  return items.map(({ id, step, tags }) => ({
    Comment: step.comment,
    Created: Math.floor(Date.parse(step.created) / 1000),
    CreatedBy: step.createdBy,
    Id: id,
    Size: step.size,
    Tags: tags.length > 0 ? tags : null,
  }));
}
