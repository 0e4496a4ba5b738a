export * from './blocks';
export * from './client';
