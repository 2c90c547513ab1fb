/**
 * Engine API routes of everyday docker commands that skiff does not carry
 * out yet: each answers 501 with a JSON message naming the command, so that
 * a user reads what is missing instead of "page not found". The README lists
 * them; a route moves out of this table when it is implemented.
 */
import { SkiffError } from '../../errors.js';
import type { Router } from '../http.js';

const NOT_IMPLEMENTED: Array<[method: string, path: string, feature: string]> = [
  ['GET', '/containers/{id}/archive', 'docker cp (from a container)'],
  ['PUT', '/containers/{id}/archive', 'docker cp (into a container)'],
  ['GET', '/containers/{id}/export', 'docker export'],
  ['GET', '/containers/{id}/changes', 'docker diff'],
  ['POST', '/containers/prune', 'docker container prune'],
  ['POST', '/commit', 'docker commit'],
  ['GET', '/system/df', 'docker system df'],
  ['POST', '/images/prune', 'docker image prune'],
  ['GET', '/images/{name}/get', 'docker save'],
  ['GET', '/images/get', 'docker save'],
  ['POST', '/images/load', 'docker load'],
  ['POST', '/build/prune', 'docker builder prune'],
];

export function addNotImplementedRoutes(router: Router): void {
  for (const [method, path, feature] of NOT_IMPLEMENTED)
    router.add(method, path, () => {
      throw new SkiffError('notImplemented', `skiff does not implement ${feature} (${method} ${path}); see skiff's README for what is supported`);
    });
}
