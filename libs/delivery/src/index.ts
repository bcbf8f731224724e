/**
 * @packageDocumentation
 * What makes the output exactly once, and what delivers it (the enricher service wires these up):
 * - {@link RawEnricher}: a raw batch in, one output record per S1 object out on
 *   `s1c.data.<api>.<sourceId>`, each claimed once in the {@link DeliveredSet};
 * - output records ({@link buildDataRecord}, {@link parseDataRecord}): the collected bytes spliced, never re-serialised;
 * - {@link SourceDirectory}: a record's source configuration at the version it was fetched with;
 * - {@link HttpSink} (batches, gzip, `X-Sumo-*` headers, retries, delivered ids) and {@link FileSink};
 * - {@link DeliveryHealth}: the `delivery-<sourceId>` health stream.
 */
export { buildDataRecord, DATA_RECORD_HEADERS, parseDataRecord, type DataEnvelope, type ParsedDataRecord } from './data-record';
export { DeliveredSet, type ClaimResult } from './delivered.set';
export { DeliveryHealth, deliveryStreamId } from './delivery.health';
export { FILE_SINK_DURABLE, FileSink, type FileSinkFormat, type FileSinkSettings } from './file.sink';
export { HTTP_SINK_DURABLE, HttpSink, type HttpSinkSettings, type HttpSinkStats } from './http.sink';
export { LruCache } from './lru.cache';
export { ENRICHER_DURABLE, RawEnricher, type EnricherStats } from './raw.enricher';
export { SourceDirectory, SourceVersionError, type SourceAtVersion } from './source.directory';
export { escapeSumoValue, parseSumoFields, sumoHeaders, type SumoHeaders } from './sumo.headers';
