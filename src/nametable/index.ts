export {
  buildNameTable,
  buildTableRecords,
  nameGivers,
  type TableRecords,
  type TableScope,
  type VipLookup,
} from './build.js';
export { type ResourceChange, TableBuilder, type TableChange } from './builder.js';
export { diffTables, encodeSet, type TableDiff, timeSlicer } from './diff.js';
export { type EntryKind, TABLE_TTL, TableEntry, type TableRecord } from './entry.js';
export { NameTable, type SearchWildcard, type Slicer } from './table.js';
