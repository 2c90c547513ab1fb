/** docker system df: what images, containers' writable layers and volumes take on disk, and who uses what. */
import type { ContainerRecord } from '../model/container.js';
import type { Image } from '../model/image.js';
import { diskUsage } from '../runtime/archive.js';
import type { ImageStore } from '../runtime/images.js';
import type { Volume } from '../runtime/volumes.js';
import type { Containers } from './controller.js';

export interface DiskUsage {
  /** Every image's rootfs (skiff shares no layers between images). */
  layersSize: number;
  images: Array<{ image: Image; containers: number }>;
  containers: Array<{ record: ContainerRecord; sizeRw: number; sizeRootFs: number }>;
  volumes: Array<{ volume: Volume; size: number; refCount: number }>;
}

export async function diskUsageOf(containers: Containers, images: ImageStore): Promise<DiskUsage> {
  const records = containers.all();
  const imageList = images.list();
  const imageSize = new Map(imageList.map((image) => [image.id, image.size]));
  const containerSizes = [];
  for (const record of records) {
    const sizeRw = await diskUsage(containers.writableLayer(record));
    containerSizes.push({ record, sizeRw, sizeRootFs: sizeRw + (imageSize.get(record.imageId) ?? 0) });
  }
  const volumes = [];
  for (const volume of containers.volumes.list())
    volumes.push({ volume, size: await diskUsage(containers.volumes.dataPath(volume.name)), refCount: containers.volumeUsers(volume.name).length });
  return {
    layersSize: imageList.reduce((total, image) => total + image.size, 0),
    images: imageList.map((image) => ({ image, containers: records.filter((record) => record.imageId === image.id).length })),
    containers: containerSizes,
    volumes,
  };
}
