/** Docker's volume JSON from skiff's volumes: the one place these shapes are converted. */
import type { Volume } from '../../runtime/volumes.js';
import { invalid } from '../../errors.js';
import { optionalString, optionalStringMap } from './json-fields.js';

type Body = Record<string, unknown>;

export function volumeToWire(volume: Volume, mountpoint: string): Body {
  return {
    CreatedAt: volume.createdAt,
    Driver: 'local',
    Labels: volume.anonymous ? null : volume.labels,
    Mountpoint: mountpoint,
    Name: volume.name,
    Options: null,
    Scope: 'local',
  };
}

/** POST /volumes/create: the local driver without options is all skiff carries out. */
export function volumeCreateFromWire(body: Body): { name: string | undefined; labels: Record<string, string> } {
  const driver = optionalString(body, 'Driver') ?? '';
  if (driver !== '' && driver !== 'local') throw invalid(`skiff does not support volume driver ${driver} (--driver): only local`);
  const options = optionalStringMap(body, 'DriverOpts') ?? {};
  if (Object.keys(options).length > 0) throw invalid('skiff does not support DriverOpts of the local volume driver (--opt): volumes are plain directories');
  return { name: optionalString(body, 'Name') || undefined, labels: optionalStringMap(body, 'Labels') ?? {} };
}
