/** Standalone entry: `npx tsx policies/doctor/main.ts [doctor options]` (same as `meshward doctor`). */
import { doctorMain } from './cli.js';

process.exitCode = await doctorMain(process.argv.slice(2));
