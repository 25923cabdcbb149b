export * from './address.js';
export * from './codec.js';
export * from './constants.js';
export * from './name.js';
export * from './present.js';
export * from './query.js';
export * from './records.js';
export * from './response.js';
