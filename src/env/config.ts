// DB_CONFIG's parser lives in src/recovery/config.ts (recovery needs the directory layout it
// describes); this name stays for the importers in env/ until they import it from there.

export { type ConfigSource, type Durability, type EnvConfig, type ParsedDbConfig, configLine, formatDbConfig, parseDbConfig } from '../recovery/config.js';
