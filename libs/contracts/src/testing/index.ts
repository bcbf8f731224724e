/**
 * The hosted product's source document as people write it, for tests: `config` overrides (an
 * `undefined` value removes a field), top-level keys (`id`, `collectorId`, `version`, ...) and
 * keys of `source` beside `config` (`schemaRef`, `sourceType`, ...).
 */
export function sampleSourceDocument(
  config: Record<string, unknown> = {},
  outer: Record<string, unknown> = {},
  source: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    'api.version': 'v1',
    source: {
      config: {
        name: 'SentinelOne',
        description: null,
        category: 'sec/s1',
        fields: { _siemForward: true, team: 'soc' },
        base_url: 'https://usea1-partners.sentinelone.net/',
        api_secret: 'tok-default-0123456789',
        supported_apis: ['activities', 'agents', 'threats'],
        ...config,
      },
      schemaRef: { type: 'SentinelOne Mgmt API' },
      sourceType: 'Universal',
      ...source,
    },
    ...outer,
  };
}
