#!/usr/bin/env node
// Launcher of the harness's in-namespace programs (client, backend) through tsx.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { wireMain } = await import('../wire.ts');
await wireMain(process.argv.slice(2));
