import { recordMetadata } from '@s1c/domain';
import { describe, expect, it } from 'vitest';
import { escapeSumoValue, parseSumoFields, sumoHeaders } from './sumo.headers';

describe('sumoHeaders', () => {
  it('puts _source and _sourceCategory in their own headers and every other key in X-Sumo-Fields', () => {
    const metadata = recordMetadata(
      { collectorId: 'default', config: { name: 'SentinelOne', category: 'sec/s1', fields: [{ key: '_siemForward', value: true }, { key: 'team', value: 'soc' }] } },
      'activities',
      { activityType: 2001 },
    );
    expect(sumoHeaders(metadata)).toEqual({
      'X-Sumo-Name': 'SentinelOne',
      'X-Sumo-Category': 'sec/s1',
      'X-Sumo-Fields': 'team=soc,_collector=default,_siemVendor=SentinelOne,_siemProduct=MGMT API,_siemFormat=JSON,_siemEventID=activities - 2001',
    });
  });

  it('leaves X-Sumo-Category out when the source has no category', () => {
    const metadata = recordMetadata({ collectorId: 'c', config: { name: 'n', category: null, fields: [] } }, 'agents', {});
    expect(sumoHeaders(metadata)).toEqual({ 'X-Sumo-Name': 'n', 'X-Sumo-Fields': '_collector=c' });
  });

  it('escapes separators, percent signs and non-ASCII so that every value round-trips', () => {
    const nasty = { 'team.name': 'a,b=c', 'k=1': '100%', 'ünï': 'café ☕', empty: null, n: 3, b: false, _source: 'Sé,n', _collector: 'x' };
    const headers = sumoHeaders(nasty);
    expect(headers['X-Sumo-Name']).toBe('S%C3%A9%2Cn');
    expect(headers['X-Sumo-Fields']).toBe('team.name=a%2Cb%3Dc,k%3D1=100%25,%C3%BCn%C3%AF=caf%C3%A9 %E2%98%95,empty=,n=3,b=false,_collector=x');
    expect(parseSumoFields(headers['X-Sumo-Fields']!)).toEqual([
      ['team.name', 'a,b=c'],
      ['k=1', '100%'],
      ['ünï', 'café ☕'],
      ['empty', ''],
      ['n', '3'],
      ['b', 'false'],
      ['_collector', 'x'],
    ]);
    // Only printable ASCII is left in header values.
    for (const value of Object.values(headers)) expect(value).toMatch(/^[\x20-\x7e]*$/);
  });

  it('escapes control characters', () => {
    expect(escapeSumoValue('a\r\nb\u007f')).toBe('a%0D%0Ab%7F');
  });
});
