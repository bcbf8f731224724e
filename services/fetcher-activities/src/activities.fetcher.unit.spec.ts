import { fieldsOf } from '@s1c/domain';
import { describe, expect, it } from 'vitest';
import { activitiesApi } from './activities.fetcher';

describe('activitiesApi', () => {
  it('filters on createdAt and identifies an activity by its id alone', () => {
    expect(activitiesApi).toMatchObject({ api: 'activities', timeField: 'createdAt' });
    const value = { id: '1398765432109876543', createdAt: '2022-04-06T08:45:55.309279Z', updatedAt: '2022-04-06T08:45:55.306443Z' };
    expect(activitiesApi.timestampOf(fieldsOf(value))).toBe('2022-04-06T08:45:55.309279Z');
    expect(activitiesApi.recordIdOf('s', fieldsOf(value), 'backfill', { from: '2022-04-06T00:00:00.000000Z', to: '2022-04-07T00:00:00.000000Z' })).toBe(
      's:activities:1398765432109876543',
    );
  });
});
