/** GET /system/df as Docker 20.10 answers it. */
import type { Containers } from '../../containers/controller.js';
import type { DiskUsage } from '../../containers/disk-usage.js';
import { containerSummaryToWire } from './containers.js';
import { imageSummaryToWire } from './images.js';
import { volumeToWire } from './volumes.js';

export function diskUsageToWire(containers: Containers, usage: DiskUsage): Record<string, unknown> {
  return {
    LayersSize: usage.layersSize,
    Images: usage.images.map(({ image, containers: users }) => ({ ...imageSummaryToWire(image), SharedSize: 0, Containers: users })),
    Containers: usage.containers.map(({ record, sizeRw, sizeRootFs }) => ({ ...containerSummaryToWire(containers, record), SizeRw: sizeRw, SizeRootFs: sizeRootFs })),
    Volumes: usage.volumes.map(({ volume, size, refCount }) => ({
      ...volumeToWire(volume, containers.volumes.dataPath(volume.name)),
      UsageData: { Size: size, RefCount: refCount },
    })),
    BuildCache: [],
    BuilderSize: 0,
  };
}
