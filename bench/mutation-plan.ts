import { type FileKind, type FileSpec, fileName, planDirectories } from "./dataset-plan.js";
import { Prng, deriveSeed } from "./prng.js";

/** Share of existing files a mutation modifies, and (as a count of new files) adds. */
const MUTATED_SHARE = 0.01;

/** One modified file: a region in its middle rewritten, and a little appended. */
export interface FileChange {
  spec: FileSpec;
  offset: number;
  regionLength: number;
  appendLength: number;
  /** Seed of the replacement and appended bytes. */
  seed: number;
}

/** One file a mutation adds. */
export interface AddedFile {
  path: string;
  kind: FileKind;
  size: number;
  seed: number;
}

/** What `mutate(dir, seed)` does to a dataset: a pure function of the plan and the seed. */
export interface MutationPlan {
  changes: FileChange[];
  added: AddedFile[];
}

/** `count` distinct indices below `n` (partial Fisher–Yates), in ascending order. */
function sampleIndices(rng: Prng, n: number, count: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = rng.int(i, n - 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order.slice(0, count).sort((a, b) => a - b);
}

/** Plans a mutation: 1% of the files modified (middle region + append), 1% new files added. */
export function planMutation(plan: readonly FileSpec[], mutationSeed: number): MutationPlan {
  const rng = new Prng(deriveSeed(mutationSeed, 0x6d757461));
  const count = Math.max(1, Math.round(plan.length * MUTATED_SHARE));
  const changes = sampleIndices(rng, plan.length, count).map((i): FileChange => {
    const spec = plan[i] as FileSpec;
    const regionLength = Math.min(Math.floor(spec.size / 4), rng.int(4_000, 64_000));
    return {
      spec,
      offset: Math.floor((spec.size - regionLength) / 2),
      regionLength,
      appendLength: rng.int(1_000, 16_000),
      seed: rng.nextU32(),
    };
  });
  const dirs = planDirectories(plan.length);
  const added = Array.from({ length: count }, (_, n): AddedFile => {
    const model = rng.pick(plan);
    const stem = `new-${mutationSeed}-${String(n).padStart(4, "0")}`;
    const path = `${rng.pick(dirs)}/${fileName(stem, model.kind, rng)}`;
    return { path, kind: model.kind, size: model.size, seed: rng.nextU32() };
  });
  return { changes, added };
}
