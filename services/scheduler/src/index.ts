export { loadSchedulerConfig, schedulerEnvShape, type SchedulerConfig } from './scheduler.config';
export { startScheduler, type SchedulerOptions, type SchedulerRuntime } from './scheduler.app';
export { SchedulerState, type KnownCollection, type LoggedEvent, type Folded, type SchedulerStateView } from './scheduler.state';
