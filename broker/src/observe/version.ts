/**
 * The broker's version, as broker/package.json says (a test holds the two equal): printed by --version,
 * on the start line, and in broker_build_info. Written here rather than read from package.json at run
 * time because the bundle is copied into a container on its own.
 */
export const BROKER_VERSION = '1.0.0';
