// Entry for the main step: all logic lives in the shared bundle (index.ts).
import { runMain } from './index.js';

await runMain();
