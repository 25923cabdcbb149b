export { buildNameTable, type TableScope, type VipLookup } from './build.js';
export { type EntryKind, TABLE_TTL, TableEntry, type TableRecord } from './entry.js';
export { NameTable } from './table.js';
