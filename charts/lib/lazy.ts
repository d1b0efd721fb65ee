import { Lazy } from 'cdk8s';

/**
 * A value computed at synth time, typed as what it produces, so constructs can keep
 * typed props while later `addXxx()` calls still show up in the output. cdk8s
 * resolves it when the object is rendered. @internal
 */
export function lazy<T>(produce: () => T): T {
  const value: unknown = Lazy.any({ produce });
  return value as T;
}
