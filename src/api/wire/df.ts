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
    // SizeRw and SizeRootFs are omitempty in Docker's ContainerJSON: a container that wrote nothing has no SizeRw.
    Containers: usage.containers.map(({ record, sizeRw, sizeRootFs }) => ({
      ...containerSummaryToWire(containers, record),
      ...(sizeRw === 0 ? {} : { SizeRw: sizeRw }),
      ...(sizeRootFs === 0 ? {} : { SizeRootFs: sizeRootFs }),
    })),
    Volumes: usage.volumes.map(({ volume, size, refCount }) => ({
      ...volumeToWire(volume, containers.volumes.dataPath(volume.name)),
      UsageData: { Size: size, RefCount: refCount },
    })),
    // No builder: null, as Docker 20.10 answers without build cache.
    BuildCache: null,
    BuilderSize: 0,
  };
}
