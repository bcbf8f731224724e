import { fieldsOf } from '@s1c/domain';
import { describe, expect, it } from 'vitest';
import { defineApiSpec, MalformedRecordError } from './api-spec';

const window = { from: '2024-06-01T00:00:00.000000Z', to: '2024-06-01T12:00:00.000000Z' };
const activities = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
const agents = defineApiSpec({ api: 'agents', timeField: 'updatedAt', timestampPath: ['updatedAt'], versioned: true });
const threats = defineApiSpec({ api: 'threats', timeField: 'updatedAt', timestampPath: ['threatInfo', 'updatedAt'], versioned: true });

describe('ApiSpec record ids (COLLECTION.md "Record ids")', () => {
  it('gives an activity its id alone', () => {
    const value = { id: '1398765432109876543', createdAt: '2024-06-01T08:45:55.309279Z' };
    expect(activities.recordIdOf('src', fieldsOf(value), 'backfill', window)).toBe('src:activities:1398765432109876543');
    expect(activities.timestampOf(fieldsOf(value))).toBe('2024-06-01T08:45:55.309279Z');
  });

  it('gives each version of a threat its own id, from threatInfo.updatedAt', () => {
    const value = { id: '1398765432101234567', threatInfo: { updatedAt: '2024-06-01T08:54:17.194122Z', createdAt: '2024-06-01T08:45:54.519988Z' } };
    expect(threats.recordIdOf('src', fieldsOf(value), 'live', window)).toBe('src:threats:1398765432101234567:2024-06-01T08:54:17.194122Z');
    expect(threats.timestampOf(fieldsOf(value))).toBe('2024-06-01T08:54:17.194122Z');
  });

  it('gives each version of an agent its own id, and a snapshot its own namespace', () => {
    const value = { id: '1224294323241529157', updatedAt: '2024-06-01T08:31:47.481227Z' };
    expect(agents.recordIdOf('src', fieldsOf(value), 'live', window)).toBe('src:agents:1224294323241529157:2024-06-01T08:31:47.481227Z');
    expect(agents.recordIdOf('src', fieldsOf(value), 'snapshot', window)).toBe('src:agents:snapshot-2024-06-01T12:00:00.000000Z:1224294323241529157');
  });

  it('normalises timestamps to microseconds, so one instant always makes one id', () => {
    expect(activities.timestampOf(fieldsOf({ createdAt: '2024-06-01T08:45:55Z' }))).toBe('2024-06-01T08:45:55.000000Z');
    expect(activities.timestampOf(fieldsOf({ createdAt: '2024-06-01T10:45:55.5+02:00' }))).toBe('2024-06-01T08:45:55.500000Z');
  });

  it('accepts a numeric id as its decimal text', () => {
    expect(activities.recordIdOf('src', fieldsOf({ id: 12345, createdAt: '2024-06-01T08:45:55Z' }), 'live', window)).toBe('src:activities:12345');
  });

  it.each([
    ['no id', { createdAt: '2024-06-01T08:45:55Z' }],
    ['an empty id', { id: '', createdAt: '2024-06-01T08:45:55Z' }],
    ['an id with a separator', { id: '12:34', createdAt: '2024-06-01T08:45:55Z' }],
    ['an id with a line break', { id: '12\r\n34', createdAt: '2024-06-01T08:45:55Z' }],
    ['a fractional id', { id: 1.5, createdAt: '2024-06-01T08:45:55Z' }],
    ['no timestamp', { id: '1' }],
    ['a timestamp that is not one', { id: '1', createdAt: 'yesterday' }],
    ['a numeric timestamp', { id: '1', createdAt: 1717228800 }],
  ])('refuses a record with %s as malformed', (_label, value) => {
    expect(() => activities.recordIdOf('src', fieldsOf(value as Record<string, unknown>), 'live', window)).toThrow(MalformedRecordError);
  });

  it('refuses a threat whose only dates are top-level (the SEKOIA bug)', () => {
    const value = { id: '1', updatedAt: '2024-06-01T08:45:55Z', threatInfo: {} };
    expect(() => threats.recordIdOf('src', fieldsOf(value), 'live', window)).toThrow(/threatInfo\.updatedAt/);
  });

  it('refuses a snapshot record without its timestamp too', () => {
    expect(() => agents.recordIdOf('src', fieldsOf({ id: '1' }), 'snapshot', window)).toThrow(MalformedRecordError);
  });
});
