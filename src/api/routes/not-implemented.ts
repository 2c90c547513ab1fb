/**
 * Engine API routes of everyday docker commands that skiff does not carry
 * out yet: each answers 501 with a JSON message naming the command, so that
 * a user reads what is missing instead of "page not found". The README lists
 * them; a route moves out of this table when it is implemented.
 */
import { SkiffError } from '../../errors.js';
import type { Router } from '../http.js';

const NOT_IMPLEMENTED: Array<[method: string, path: string, feature: string]> = [
  ['POST', '/build', 'docker build'],
  ['POST', '/session', 'docker build (BuildKit sessions)'],
  ['POST', '/images/{name}/push', 'docker push'],
  ['GET', '/images/search', 'docker search'],
  ['POST', '/auth', 'docker login'],
  ['GET', '/distribution/{name}/json', 'registry distribution lookups'],
  ['GET', '/plugins', 'docker plugin ls'],
  ['GET', '/plugins/privileges', 'docker plugin install'],
  ['POST', '/plugins/pull', 'docker plugin install'],
  ['GET', '/plugins/{name}/json', 'docker plugin inspect'],
  ['DELETE', '/plugins/{name}', 'docker plugin rm'],
  ['POST', '/plugins/{name}/enable', 'docker plugin enable'],
  ['POST', '/plugins/{name}/disable', 'docker plugin disable'],
  ['POST', '/plugins/{name}/upgrade', 'docker plugin upgrade'],
  ['POST', '/plugins/create', 'docker plugin create'],
  ['POST', '/plugins/{name}/push', 'docker plugin push'],
  ['POST', '/plugins/{name}/set', 'docker plugin set'],
];

export function addNotImplementedRoutes(router: Router): void {
  for (const [method, path, feature] of NOT_IMPLEMENTED)
    router.add(method, path, () => {
      throw new SkiffError('notImplemented', `skiff does not implement ${feature} (${method} ${path}); see skiff's README for what is supported`);
    });
}
