export * from './constants.js';
export * from './name.js';
export * from './query.js';
export * from './response.js';
