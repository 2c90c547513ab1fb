/**
 * docker wait's conditions (POST /containers/{id}/wait?condition=): what the
 * answer waits for. Docker 20.10 reads any other value, or none, as
 * not-running, without an error (an error for a bad condition came with API 1.42).
 */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export function waitCondition(value: string | null): WaitCondition {
  return value === 'next-exit' || value === 'removed' ? value : 'not-running';
}
