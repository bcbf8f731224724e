export { startSimulator, type RunningSimulator } from './simulator.server.js';
export { SimulatorAdmin, type SimulatorState, type DatasetCounts, type MutableApi } from './simulator.admin.js';
export {
  API_NAMES,
  DEFAULT_LIMIT,
  DEFAULT_TOKEN,
  MAX_LIMIT,
  simulatorOptionsSchema,
  type ApiName,
  type LiveRates,
  type ResolvedOptions,
  type SimulatorOptions,
  type TokenConfig,
} from './simulator.options.js';
export type { FaultSpec, FaultView } from './faults.controller.js';
export type { RequestLogEntry } from './request.log.js';
export type { TokenInfo } from './tokens.registry.js';
export type { AccountInfo, SiteInfo, GroupInfo } from './dataset.layout.js';
export type { DataApi } from './dataset.store.js';
export { formatMicros, parseTimestampMicros, type Micros } from './timestamp.util.js';
