export * from './config.js';
export * from './errors.js';
export * from './identity.js';
export * from './logger.js';
export * from './route-guard.js';
export * from './server.js';
export * from './token-source.js';
export * from './web.js';
