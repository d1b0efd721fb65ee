export * from './checks.js';
export * from './cli.js';
export * from './kube-reader.js';
export * from './model.js';
export * from './run-doctor.js';
