// Changes the incremental allocator can take back: a fast update that finds it cannot finish leaves
// the tables as they were, so the full allocation it falls back to starts from the previous state.

/** Undoes one change; replayed in reverse when a fast update gives up. */
export type Undo = () => void;

export function mapSet<K, V>(map: Map<K, V>, key: K, value: V, undo: Undo[]): void {
  const had = map.has(key);
  const was = map.get(key);
  map.set(key, value);
  undo.push(() => (had ? map.set(key, was as V) : map.delete(key)));
}

export function mapDelete<K, V>(map: Map<K, V>, key: K, undo: Undo[]): void {
  if (!map.has(key)) return;
  const was = map.get(key) as V;
  map.delete(key);
  undo.push(() => map.set(key, was));
}

export function setAdd<V>(set: Set<V>, value: V, undo: Undo[]): void {
  if (set.has(value)) return;
  set.add(value);
  undo.push(() => set.delete(value));
}

export function setDelete<V>(set: Set<V>, value: V, undo: Undo[]): void {
  if (!set.delete(value)) return;
  undo.push(() => set.add(value));
}
