import type { Figures, SectionResult, StepResult } from "./section.js";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function medianOf(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

function medianFigures(figures: Figures[]): Figures {
  return {
    wallSeconds: median(figures.map((f) => f.wallSeconds)),
    storedBytes: medianOf(figures.map((f) => f.storedBytes)),
    peakRssBytes: median(figures.map((f) => f.peakRssBytes)),
    flushSeconds: medianOf(figures.map((f) => f.flushSeconds)),
  };
}

function spread(runs: readonly SectionResult[], index: number): string {
  const ratios = runs.map((r) => {
    const step = r.steps[index] as StepResult;
    return step.ours.wallSeconds / step.runbook.wallSeconds;
  });
  const walls = (side: "runbook" | "ours") =>
    runs.map((r) => (r.steps[index] as StepResult)[side].wallSeconds.toFixed(1)).join("/");
  return `${runs[0]?.steps[index]?.step}: runbook ${walls("runbook")} s, ours ${walls("ours")} s, ratio ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`;
}

/**
 * Combines repeated runs of one section into one result: the median of every figure per step
 * (steps matched by position), the last run's notes, and a note with each run's wall times.
 */
export function medianOfRuns(runs: readonly SectionResult[]): SectionResult {
  const last = runs.at(-1);
  if (last === undefined) throw new Error("medianOfRuns: no runs");
  if (runs.length === 1) return last;
  const steps = last.steps.map((step, i) => ({
    ...step,
    runbook: medianFigures(runs.map((r) => (r.steps[i] as StepResult).runbook)),
    ours: medianFigures(runs.map((r) => (r.steps[i] as StepResult).ours)),
  }));
  const spreads = last.steps.map((_, i) => spread(runs, i));
  return {
    ...last,
    steps,
    notes: [...last.notes, `${last.section}: median of ${runs.length} runs; per run: ${spreads.join("; ")}`],
  };
}
