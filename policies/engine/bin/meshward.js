#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx, from any working directory.
import { register } from 'tsx/esm/api';

register();
await import('../cli.ts');
