import { fieldsOf } from '@s1c/domain';
import { MalformedRecordError } from '@s1c/fetcher-kit';
import { describe, expect, it } from 'vitest';
import { alertsApi } from './alerts.fetcher';

const window = { from: '2024-07-03T00:00:00.000000Z', to: '2024-07-04T00:00:00.000000Z' };
const alert = { alertInfo: { alertId: '1985998272619999973', createdAt: '2024-07-03T03:44:03.003Z', updatedAt: '2024-07-03T03:44:03.128163Z' }, ruleInfo: { id: '1412136126226508571' } };

describe('alertsApi', () => {
  it('filters on createdAt, sorts by alertInfoCreatedAt, and names an alert by its alertInfo.alertId alone (alerts are collected once)', () => {
    expect(alertsApi).toMatchObject({ api: 'alerts', timeField: 'createdAt', sortBy: 'alertInfoCreatedAt' });
    expect(alertsApi.recordOf('s', fieldsOf(alert), 'backfill', window)).toEqual({ id: 's:alerts:1985998272619999973', timestamp: '2024-07-03T03:44:03.003000Z' });
  });

  it('refuses an alert without alertInfo.alertId or alertInfo.createdAt as malformed, naming the field', () => {
    expect(() => alertsApi.recordIdOf('s', fieldsOf({ alertInfo: { createdAt: '2024-07-03T03:44:03Z' } }), 'live', window)).toThrow(MalformedRecordError);
    expect(() => alertsApi.recordIdOf('s', fieldsOf({ alertInfo: { createdAt: '2024-07-03T03:44:03Z' }, id: '1' }), 'live', window)).toThrow(/alertInfo\.alertId/);
    expect(() => alertsApi.recordIdOf('s', fieldsOf({ alertInfo: { alertId: '1' } }), 'live', window)).toThrow(/alertInfo\.createdAt/);
    expect(() => alertsApi.recordIdOf('s', fieldsOf({ alertInfo: { alertId: '1:2', createdAt: '2024-07-03T03:44:03Z' } }), 'live', window)).toThrow(/alertInfo\.alertId/);
  });
});
