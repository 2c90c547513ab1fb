/**
 * When docker pause and unpause are refused, in Docker 20.10's words and
 * statuses (moby daemon/pause.go, unpause.go). Pure.
 */
import { conflict, SkiffError } from '../errors.js';
import type { ContainerRecord } from '../model/container.js';

/** The error a pause or unpause of the container would meet, or undefined when it may go ahead. */
export type PauseRefusal = (record: ContainerRecord) => SkiffError | undefined;

export const pauseRefusal: PauseRefusal = (record) => {
  if (record.state.status !== 'running') return conflict(`Container ${record.id} is not running`);
  if (record.state.paused) return conflict(`Container ${record.id} is already paused`);
  return undefined;
};

export const unpauseRefusal: PauseRefusal = (record) => {
  // Docker answers this one with a plain error: 500.
  if (!record.state.paused) return new SkiffError('internal', `Container ${record.id} is not paused`);
  return undefined;
};
