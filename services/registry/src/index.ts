export { loadRegistryConfig, registryEnvShape, type RegistryConfig } from './registry.config';
export { startRegistry, type RegistryOptions, type RegistryRuntime } from './registry.app';
export { relaySubjectFor, sourceStreamId } from './source.streams';
