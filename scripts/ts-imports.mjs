// Lets a script run by Node (type stripping) import the TypeScript sources the bundles are built from:
// they import each other as `./name.js`, as the compiler wants, and no such file exists beside them, so
// a `.js` specifier that does not resolve is tried again as `.ts`. Written here (a few lines of Node's
// public module.registerHooks) instead of adding a loader package for one script.
//   node --experimental-transform-types --import ./scripts/ts-imports.mjs scripts/schema.ts (core/ has parameter properties)
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (!specifier.startsWith('.') || !specifier.endsWith('.js')) throw error;
      return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
    }
  },
});
