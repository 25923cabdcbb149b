export {
  buildNameTable,
  buildTableRecords,
  nameGivers,
  type PerNameRule,
  type TableRecords,
  type TableScope,
  type VipLookup,
} from './build.js';
export {
  type GivenHost,
  type ResourceChange,
  TableBuilder,
  type TableChange,
  visible as visibleTo,
} from './builder.js';
export {
  APPLY_SLICE_MS,
  changeToDiff,
  diffTables,
  type PackedSet,
  packSet,
  type TableDiff,
  timeSlicer,
  unpackSet,
} from './diff.js';
export { type EntryKind, TABLE_TTL, TableEntry, type TableRecord } from './entry.js';
export { NameTable, type SearchWildcard, type Slicer } from './table.js';
export { restoreTable, type TableSnapshot, tableSnapshotProblem } from './table-snapshot.js';
