import type { DeepReadonly } from "./schema.js";

/** Freezes `value` and everything reachable from it, so no consumer can change the config under another. */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    // Freezing before descending keeps shared or cyclic references from being walked twice.
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value as DeepReadonly<T>;
}
