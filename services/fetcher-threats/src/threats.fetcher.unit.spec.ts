import { fieldsOf } from '@s1c/domain';
import { describe, expect, it } from 'vitest';
import { threatsApi } from './threats.fetcher';

describe('threatsApi', () => {
  it('filters on updatedAt and reads it from threatInfo', () => {
    expect(threatsApi).toMatchObject({ api: 'threats', timeField: 'updatedAt' });
    const value = { id: '1398765432101234567', threatInfo: { updatedAt: '2022-04-06T08:54:17.194122Z' } };
    expect(threatsApi.timestampOf(fieldsOf(value))).toBe('2022-04-06T08:54:17.194122Z');
    expect(threatsApi.recordIdOf('s', fieldsOf(value), 'live', { from: '2022-04-06T00:00:00.000000Z', to: '2022-04-07T00:00:00.000000Z' })).toBe(
      's:threats:1398765432101234567:2022-04-06T08:54:17.194122Z',
    );
  });
});
