/** The Engine API versions skiff speaks: Docker 20.10's. */
export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.12';
export const ENGINE_VERSION = '20.10.24-skiff';

function versionParts(version: string): [number, number] {
  const [major, minor] = version.split('.').map(Number);
  return [major ?? 0, minor ?? 0];
}

export function compareApiVersions(a: string, b: string): number {
  const [aMajor, aMinor] = versionParts(a);
  const [bMajor, bMinor] = versionParts(b);
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}
