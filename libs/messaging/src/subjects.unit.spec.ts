import { describe, expect, it } from 'vitest';
import { InvalidSubjectTokenError, subjects } from './subjects';

describe('subjects', () => {
  it('builds the subjects docs/DESIGN.md names', () => {
    expect(subjects.sourceEvent('src-1', 'SourceCreated')).toBe('s1c.evt.source.src-1.SourceCreated');
    expect(subjects.sourceEvents('src-1')).toBe('s1c.evt.source.src-1.*');
    expect(subjects.command('create')).toBe('s1c.cmd.source.create');
    expect(subjects.job('activities')).toBe('s1c.job.activities');
    expect(subjects.raw('agents', 'src-1')).toBe('s1c.raw.agents.src-1');
    expect(subjects.data('threats', 'src-1')).toBe('s1c.data.threats.src-1');
    expect(subjects.deadLetter('S1C_JOBS', 'fetcher-activities')).toBe('s1c.dlq.S1C_JOBS.fetcher-activities');
    expect(subjects.relayedEvent('collection', 'src-1-agents', 'JobCompleted')).toBe('s1c.evt.collection.src-1-agents.JobCompleted');
    expect(subjects.everySourceEvent).toBe('s1c.evt.source.>');
    expect(subjects.every).toEqual({ event: 's1c.evt.>', job: 's1c.job.>', raw: 's1c.raw.>', data: 's1c.data.>', deadLetter: 's1c.dlq.>' });
  });

  it('relays an event of the log whatever its stream key holds (a throw would stop the relay)', () => {
    expect(subjects.relayedEvent('sourcename', 'default-ab.cd', 'SourceNameReserved')).toBe('s1c.evt.sourcename.default-ab.cd.SourceNameReserved');
  });

  describe('when a token would change the subject structure', () => {
    it.each(['a.b', 'a*', '>', 'a b', 'a\tb', '', 'x\n'])('it refuses %j', (token) => {
      expect(() => subjects.sourceEvent(token, 'SourceCreated')).toThrow(InvalidSubjectTokenError);
      expect(() => subjects.raw('activities', token)).toThrow(InvalidSubjectTokenError);
    });

    it('names the bad token in the error', () => {
      expect(() => subjects.job('act.ivities')).toThrow(/api "act.ivities"/);
    });
  });
});
