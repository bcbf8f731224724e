import { fieldsOf } from '@s1c/domain';
import { describe, expect, it } from 'vitest';
import { agentsApi } from './agents.fetcher';

const window = { from: '1970-01-01T00:00:00.000000Z', to: '2022-04-08T00:00:00.000000Z' };

describe('agentsApi', () => {
  it('filters on updatedAt; a delta record is one agent version, a snapshot record one agent of one snapshot', () => {
    expect(agentsApi).toMatchObject({ api: 'agents', timeField: 'updatedAt' });
    const value = { id: '1224294323241529157', updatedAt: '2022-04-07T08:31:47.481227Z' };
    expect(agentsApi.recordIdOf('s', fieldsOf(value), 'live', window)).toBe('s:agents:1224294323241529157:2022-04-07T08:31:47.481227Z');
    expect(agentsApi.recordIdOf('s', fieldsOf(value), 'snapshot', window)).toBe('s:agents:snapshot-2022-04-08T00:00:00.000000Z:1224294323241529157');
  });
});
