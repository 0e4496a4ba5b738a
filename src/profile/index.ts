export * from './pii';
export * from './profiler';
export * from './types';
export * from './registered';
