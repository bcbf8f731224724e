import { describe, expect, it } from 'vitest';
import { fieldsOf } from './record-fields';
import { isSiemForwarded, recordMetadata, siemEventId, sourceMetadata, type MetadataSource } from './siem-metadata';
import type { CustomField, SourceApi } from './source.types';

function source(fields: CustomField[], overrides: { name?: string; category?: string | null; collectorId?: string } = {}): MetadataSource {
  return {
    collectorId: overrides.collectorId ?? 'default',
    config: { name: overrides.name ?? 'SentinelOne', category: overrides.category === undefined ? 'sec/s1' : overrides.category, fields },
  };
}

const FORWARD: CustomField = { key: '_siemForward', value: true };
const ACTIVITY = { id: '1398765432109876543', activityType: 2001, createdAt: '2022-04-06T08:45:55.309279Z' };
const THREAT = { id: '1398765432101234567', threatInfo: { threatId: '1398765432101234567', updatedAt: '2022-04-06T08:54:17.194122Z' } };
const AGENT = { id: '1224294323241529157', computerName: 'user-test' };
const ALERT = { alertInfo: { alertId: '1985998272619999973', createdAt: '2024-07-03T03:44:03.003000Z' }, ruleInfo: { id: '1412136126226508571', name: 'test5' } };
const GROUP = { id: '1002003004005006007', name: 'Default Group', updatedAt: '2024-07-03T03:44:03.003000Z' };

/** Keys and values in order: the metadata's JSON is what reaches the SIEM. */
const entries = (m: object) => Object.entries(m);

describe('recordMetadata', () => {
  describe('given a source with _siemForward: true', () => {
    const s = source([FORWARD, { key: 'team', value: 'soc' }]);

    it('tags an activity with its activityType', () => {
      expect(entries(recordMetadata(s, 'activities', ACTIVITY))).toEqual([
        ['team', 'soc'],
        ['_source', 'SentinelOne'],
        ['_sourceCategory', 'sec/s1'],
        ['_collector', 'default'],
        ['_siemVendor', 'SentinelOne'],
        ['_siemProduct', 'MGMT API'],
        ['_siemFormat', 'JSON'],
        ['_siemEventID', 'activities - 2001'],
      ]);
    });

    it('tags a threat with its top-level id, not threatInfo.threatId', () => {
      const threat = { ...THREAT, threatInfo: { ...THREAT.threatInfo, threatId: 'other' } };
      expect(entries(recordMetadata(s, 'threats', threat))).toEqual([
        ['team', 'soc'],
        ['_source', 'SentinelOne'],
        ['_sourceCategory', 'sec/s1'],
        ['_collector', 'default'],
        ['_siemVendor', 'SentinelOne'],
        ['_siemProduct', 'MGMT API'],
        ['_siemFormat', 'JSON'],
        ['_siemEventID', 'threats - 1398765432101234567'],
      ]);
    });

    it('tags an agent as inventory', () => {
      expect(entries(recordMetadata(s, 'agents', AGENT))).toEqual([
        ['team', 'soc'],
        ['_source', 'SentinelOne'],
        ['_sourceCategory', 'sec/s1'],
        ['_collector', 'default'],
        ['_siemVendor', 'SentinelOne'],
        ['_siemProduct', 'MGMT API'],
        ['_siemFormat', 'JSON'],
        ['_siemEventID', 'agents'],
        ['_siemDataType', 'Inventory'],
      ]);
    });

    it('tags an alert with the id of the rule that fired, and a group as inventory', () => {
      expect(recordMetadata(s, 'alerts', ALERT)._siemEventID).toBe('alerts - 1412136126226508571');
      expect(recordMetadata(s, 'alerts', ALERT)).not.toHaveProperty('_siemDataType');
      expect(entries(recordMetadata(s, 'groups', GROUP)).slice(-2)).toEqual([
        ['_siemEventID', 'groups'],
        ['_siemDataType', 'Inventory'],
      ]);
    });

    it('names an alert without its rule id by its API alone', () => {
      for (const alert of [{ alertInfo: {} }, { ruleInfo: null }, { ruleInfo: [] }, { ruleInfo: { id: '' } }, { ruleInfo: { id: { x: 1 } } }]) {
        expect(recordMetadata(s, 'alerts', alert)._siemEventID, JSON.stringify(alert)).toBe('alerts');
      }
    });

    it('names an activity without activityType by its API alone', () => {
      const { activityType: _omitted, ...withoutType } = ACTIVITY;
      expect(recordMetadata(s, 'activities', withoutType)._siemEventID).toBe('activities');
      expect(recordMetadata(s, 'activities', { ...ACTIVITY, activityType: null })._siemEventID).toBe('activities');
      expect(recordMetadata(s, 'activities', { ...ACTIVITY, activityType: { nested: 1 } })._siemEventID).toBe('activities');
    });

    it('names a threat without id by its API alone', () => {
      expect(recordMetadata(s, 'threats', { threatInfo: {} })._siemEventID).toBe('threats');
      expect(recordMetadata(s, 'threats', { id: '' })._siemEventID).toBe('threats');
    });

    it('accepts an activityType sent as a string', () => {
      expect(recordMetadata(s, 'activities', { activityType: '27' })._siemEventID).toBe('activities - 27');
    });

    it('keeps other _siem* custom fields (not reserved) when forwarding', () => {
      const m = recordMetadata(source([FORWARD, { key: '_siemTenant', value: 'acme' }]), 'agents', AGENT);
      expect(m._siemTenant).toBe('acme');
    });
  });

  describe('given a source without _siemForward: true', () => {
    const apis: SourceApi[] = ['activities', 'agents', 'threats', 'alerts', 'groups'];
    const records = { activities: ACTIVITY, agents: AGENT, threats: THREAT, alerts: ALERT, groups: GROUP };
    for (const fields of [
      [] as CustomField[],
      [{ key: '_siemForward', value: false }],
      [{ key: '_siemForward', value: 'true' }],
      [{ key: '_siemForward', value: 1 }],
      [{ key: '_siemForward', value: null }],
    ]) {
      for (const api of apis) {
        it(`writes no _siem* key for ${api} with fields ${JSON.stringify(fields)}`, () => {
          const m = recordMetadata(source([...fields, { key: 'team', value: 'soc' }]), api, records[api]);
          expect(entries(m)).toEqual([
            ['team', 'soc'],
            ['_source', 'SentinelOne'],
            ['_sourceCategory', 'sec/s1'],
            ['_collector', 'default'],
          ]);
        });
      }
    }

    it('drops custom fields named _siem* as well', () => {
      const m = recordMetadata(source([{ key: '_siemTenant', value: 'acme' }, { key: '_siemVendor', value: 'x' }]), 'agents', AGENT);
      expect(Object.keys(m).filter((k) => k.startsWith('_siem'))).toEqual([]);
    });
  });

  describe('custom fields', () => {
    it('copies every custom field, in order, with its JSON type, except _siemForward', () => {
      const m = recordMetadata(
        source([
          { key: 'team.name', value: 'soc' },
          { key: '$x', value: 'dollar' },
          FORWARD,
          { key: 'priority', value: 3 },
          { key: 'pii', value: false },
          { key: 'owner', value: null },
          { key: 'with space', value: 'a=b,c' },
          { key: 'ünï', value: '✓' },
        ]),
        'agents',
        AGENT,
      );
      expect(entries(m).slice(0, 7)).toEqual([
        ['team.name', 'soc'],
        ['$x', 'dollar'],
        ['priority', 3],
        ['pii', false],
        ['owner', null],
        ['with space', 'a=b,c'],
        ['ünï', '✓'],
      ]);
      expect(Object.keys(m)).not.toContain('_siemForward');
    });

    it('never lets a custom field override a collector key, which come after the custom fields', () => {
      const m = recordMetadata(
        source([
          { key: '_source', value: 'spoof' },
          { key: '_collector', value: 'spoof' },
          { key: '_sourceCategory', value: 'spoof' },
          FORWARD,
          { key: '_siemVendor', value: 'spoof' },
          { key: '_siemEventID', value: 'spoof' },
          { key: '_siemDataType', value: 'spoof' },
          { key: 'team', value: 'soc' },
        ]),
        'activities',
        ACTIVITY,
      );
      expect(entries(m)).toEqual([
        ['team', 'soc'],
        ['_source', 'SentinelOne'],
        ['_sourceCategory', 'sec/s1'],
        ['_collector', 'default'],
        ['_siemVendor', 'SentinelOne'],
        ['_siemProduct', 'MGMT API'],
        ['_siemFormat', 'JSON'],
        ['_siemEventID', 'activities - 2001'],
      ]);
    });

    it('keeps a __proto__ field as data, never as the prototype', () => {
      const m = recordMetadata(source([{ key: '__proto__', value: 'x' }]), 'agents', AGENT);
      expect(Object.getPrototypeOf(m)).toBeNull();
      expect(JSON.stringify(m)).toBe('{"__proto__":"x","_source":"SentinelOne","_sourceCategory":"sec/s1","_collector":"default"}');
    });
  });

  describe('category', () => {
    it('omits _sourceCategory when the source has no category', () => {
      const m = recordMetadata(source([FORWARD], { category: null }), 'activities', ACTIVITY);
      expect(Object.keys(m)).toEqual(['_source', '_collector', '_siemVendor', '_siemProduct', '_siemFormat', '_siemEventID']);
    });

    it('keeps an empty-string category as given', () => {
      expect(recordMetadata(source([], { category: '' }), 'agents', AGENT)._sourceCategory).toBe('');
    });
  });

  it('uses the collector id and the name of the configuration it is given', () => {
    const m = recordMetadata(source([], { name: 'EU console', collectorId: 'col-7' }), 'threats', THREAT);
    expect(m._source).toBe('EU console');
    expect(m._collector).toBe('col-7');
  });

  it('does not read or change the record beyond activityType and id', () => {
    const record = Object.freeze({ ...ACTIVITY });
    recordMetadata(source([FORWARD]), 'activities', record);
    expect(record).toEqual(ACTIVITY);
  });
});

describe('sourceMetadata', () => {
  it('is recordMetadata without the per-record _siemEventID of activities and threats', () => {
    const s = source([FORWARD, { key: 'team', value: 'soc' }]);
    expect(entries(sourceMetadata(s, 'activities'))).toEqual(entries(recordMetadata(s, 'activities', ACTIVITY)).slice(0, -1));
    expect(entries(sourceMetadata(s, 'agents'))).toEqual(entries(recordMetadata(s, 'agents', AGENT)));
  });
});

describe('siemEventId and isSiemForwarded', () => {
  it('follow S1-API.md', () => {
    expect(siemEventId('activities', fieldsOf({ activityType: 27 }))).toBe('activities - 27');
    expect(siemEventId('threats', fieldsOf({ id: '1' }))).toBe('threats - 1');
    expect(siemEventId('agents', fieldsOf({ id: '1' }))).toBe('agents');
    expect(siemEventId('groups', fieldsOf({ id: '1' }))).toBe('groups');
    expect(siemEventId('alerts', fieldsOf({ ruleInfo: { id: 'r7' } }))).toBe('alerts - r7');
    // Absent, null, empty, not a string or number, or behind something that is not an object: the bare API.
    for (const record of [{}, { activityType: null }, { activityType: '' }, { activityType: [27] }, { activityType: Infinity }]) {
      expect(siemEventId('activities', fieldsOf(record))).toBe('activities');
    }
    for (const record of [{ ruleInfo: null }, { ruleInfo: ['r7'] }, { ruleInfo: 'r7' }]) expect(siemEventId('alerts', fieldsOf(record))).toBe('alerts');
    expect(isSiemForwarded(source([FORWARD]))).toBe(true);
    expect(isSiemForwarded(source([{ key: '_siemForward', value: 'yes' }]))).toBe(false);
  });
});
