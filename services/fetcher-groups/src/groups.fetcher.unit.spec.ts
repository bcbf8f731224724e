import { fieldsOf } from '@s1c/domain';
import { describe, expect, it } from 'vitest';
import { groupsApi } from './groups.fetcher';

const window = { from: '1970-01-01T00:00:00.000000Z', to: '2024-07-04T00:00:00.000000Z' };

describe('groupsApi', () => {
  it('filters on updatedAt; a delta record is one group version, a snapshot record one group of one snapshot', () => {
    expect(groupsApi).toMatchObject({ api: 'groups', timeField: 'updatedAt', sortBy: 'updatedAt' });
    const value = { id: '1002003004005006007', updatedAt: '2024-07-03T03:44:03.128163Z' };
    expect(groupsApi.recordIdOf('s', fieldsOf(value), 'live', window)).toBe('s:groups:1002003004005006007:2024-07-03T03:44:03.128163Z');
    expect(groupsApi.recordIdOf('s', fieldsOf(value), 'snapshot', window)).toBe('s:groups:snapshot-2024-07-04T00:00:00.000000Z:1002003004005006007');
  });
});
