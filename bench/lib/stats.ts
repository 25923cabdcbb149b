// Summaries of repeated runs.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** max/min − 1 of the runs: how far apart the best and worst run are (0.1 = 10%). */
export function spread(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return Math.max(...values) / Math.min(...values) - 1;
}
