// Entry for the post step: all logic lives in the shared bundle (index.ts).
import { runPost } from './index.js';

await runPost();
