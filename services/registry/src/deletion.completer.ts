import { systemActor } from '@s1c/domain';
import type { Logger } from '@s1c/logger';
import type { DeletionCompleter, SourcesService } from './sources.service';

const REQUEST = { correlationId: 'registry-deletion', actor: systemActor('registry') };

/**
 * Completes deletions at once, for as long as nothing else collects data: with no collection
 * task to stop, Stopping can become Deleted straight away. The scheduler takes over this role
 * when it exists. Deletions left in Stopping by a crash are completed when the registry starts.
 */
export class ImmediateDeletionCompleter implements DeletionCompleter {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly sources: SourcesService,
    private readonly logger: Logger,
  ) {}

  deletionRequested(sourceId: string): void {
    const task = this.sources
      .completeDeletion(sourceId, REQUEST)
      .catch((error: unknown) => this.logger.error({ err: error, sourceId }, 'could not complete a deletion; it is retried at the next start'))
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  /** Completes the deletions a previous run left in Stopping. */
  async resume(): Promise<void> {
    for (const sourceId of this.sources.stoppingSourceIds()) this.deletionRequested(sourceId);
    await this.idle();
  }

  /** Waits for the deletions in progress. */
  async idle(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
