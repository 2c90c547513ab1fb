/**
 * Swarm mode's routes as Docker 20.10 answers them on a node that is in no
 * swarm (skiff never is one): 503 with Docker's words, so that clients which
 * probe or tear down swarm state (docker-py's leave_swarm(force=True), docker
 * info, compose) see what they would see against a plain dockerd.
 */
import { SkiffError } from '../../errors.js';
import type { Router } from '../http.js';

const NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_IN_A_SWARM = 'This node is not part of a swarm';
/** Where dockerd would make or join a swarm, skiff says why it cannot. */
const NO_SWARM_MODE = 'skiff does not run swarm mode: this node cannot initialize or join a swarm (networks with scope "swarm" and services are not supported)';

const unavailable = (message: string) => new SkiffError('unavailable', message, { status: 503 });

/** The object kinds that only a swarm manager holds, each with Docker's verbs. */
const MANAGER_OBJECTS: Array<[method: string, path: string]> = [
  ['GET', '/swarm'],
  ['POST', '/swarm/update'],
  ['GET', '/swarm/unlockkey'],
  ['POST', '/swarm/unlock'],
  ['GET', '/nodes'],
  ['GET', '/nodes/{id}'],
  ['DELETE', '/nodes/{id}'],
  ['POST', '/nodes/{id}/update'],
  ['GET', '/services'],
  ['POST', '/services/create'],
  ['GET', '/services/{id}'],
  ['DELETE', '/services/{id}'],
  ['POST', '/services/{id}/update'],
  ['GET', '/services/{id}/logs'],
  ['GET', '/tasks'],
  ['GET', '/tasks/{id}'],
  ['GET', '/tasks/{id}/logs'],
  ['GET', '/secrets'],
  ['POST', '/secrets/create'],
  ['GET', '/secrets/{id}'],
  ['DELETE', '/secrets/{id}'],
  ['POST', '/secrets/{id}/update'],
  ['GET', '/configs'],
  ['POST', '/configs/create'],
  ['GET', '/configs/{id}'],
  ['DELETE', '/configs/{id}'],
  ['POST', '/configs/{id}/update'],
];

export function addSwarmRoutes(router: Router): void {
  for (const [method, path] of MANAGER_OBJECTS)
    router.add(method, path, () => {
      throw unavailable(NOT_A_MANAGER);
    });
  router.add('POST', '/swarm/leave', () => {
    throw unavailable(NOT_IN_A_SWARM);
  });
  router.add('POST', '/swarm/init', () => {
    throw unavailable(NO_SWARM_MODE);
  });
  router.add('POST', '/swarm/join', () => {
    throw unavailable(NO_SWARM_MODE);
  });
}
