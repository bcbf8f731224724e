import { MemoryLog as DomainMemoryLog } from '@s1c/domain/testing';
import { SchedulerState } from '../scheduler.state';

export { SECRET, sourceConfig } from '@s1c/domain/testing';

/** The domain's in-memory log, folded into a {@link SchedulerState}: the scheduler's own fold under test. */
export class MemoryLog extends DomainMemoryLog<SchedulerState> {
  constructor(clock: () => Date) {
    super(clock, new SchedulerState());
  }
}
