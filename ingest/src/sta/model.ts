/**
 * The SensorThings entity model over gridline's tables [OGC 18-088 8.2]:
 * each entity set is a SQL relation with fixed column names (the CTEs of
 * `withViews`), its properties map onto those columns, and each navigation
 * property is a join condition between a child and a parent alias.
 * Values from configuration (which domains are open) and the catalogue reach
 * the SQL as parameters only.
 */

export type PropType = 'string' | 'number' | 'time' | 'json' | 'geo' | 'interval' | 'id'

export interface PropDef {
  /** SQL expression over the entity's alias `a` (a column of its view). */
  sql: (a: string) => string
  /** How the value is written into the JSON answer, over alias `a`. */
  json?: (a: string) => string
  type: PropType
}

export interface NavDef {
  target: EntityName
  many: boolean
  /** The condition joining child alias `c` to parent alias `p`; Observations use `datastream` instead. */
  on?: (c: string, p: string) => string
  /** For Observations: the condition on the Datastream alias `s` given the parent `p`. */
  datastream?: (s: string, p: string) => string
}

export type EntityName = 'Thing' | 'Location' | 'HistoricalLocation' | 'Datastream' | 'Sensor' | 'ObservedProperty' | 'Observation' | 'FeatureOfInterest'

export interface EntityDef {
  name: EntityName
  set: string
  /** The CTE that holds it. */
  view: string
  /** Integer ids (Datastreams) or string ids (the rest). */
  idType: 'number' | 'string'
  props: Record<string, PropDef>
  navs: Record<string, NavDef>
  defaultOrder: (a: string) => string[]
}

const col = (name: string, type: PropType = 'string'): PropDef => ({ sql: (a) => `${a}.${name}`, type })
const iso = (e: string) => `to_char(${e} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
const time = (name: string): PropDef => ({ sql: (a) => `${a}.${name}`, json: (a) => iso(`${a}.${name}`), type: 'time' })
const point = (a: string) => `CASE WHEN ${a}.lon IS NULL OR ${a}.lat IS NULL THEN NULL ELSE json_build_object('type', 'Point', 'coordinates', json_build_array(${a}.lon, ${a}.lat)) END`
const geo: PropDef = { sql: (a) => `point(${a}.lon, ${a}.lat)`, json: point, type: 'geo' }
const id = (): PropDef => ({ sql: (a) => `${a}.id`, type: 'id' })

export const ENTITIES: Record<EntityName, EntityDef> = {
  Thing: {
    name: 'Thing', set: 'Things', view: 'sta_thing', idType: 'string',
    props: { '@iot.id': id(), name: col('name'), description: col('description'), properties: col('properties', 'json') },
    navs: {
      Datastreams: { target: 'Datastream', many: true, on: (c, p) => `${c}.thing_id = ${p}.id` },
      Locations: { target: 'Location', many: true, on: (c, p) => `${c}.thing_id = ${p}.id` },
      HistoricalLocations: { target: 'HistoricalLocation', many: true, on: (c, p) => `${c}.thing_id = ${p}.id` },
    },
    defaultOrder: (a) => [`${a}.id`],
  },
  Location: {
    name: 'Location', set: 'Locations', view: 'sta_location', idType: 'string',
    props: { '@iot.id': id(), name: col('name'), description: col('description'), encodingType: col('encoding_type'), location: geo, properties: col('properties', 'json') },
    navs: {
      Things: { target: 'Thing', many: true, on: (c, p) => `${c}.id = ${p}.thing_id` },
      HistoricalLocations: { target: 'HistoricalLocation', many: true, on: (c, p) => `${c}.location_id = ${p}.id` },
    },
    defaultOrder: (a) => [`${a}.id`],
  },
  HistoricalLocation: {
    name: 'HistoricalLocation', set: 'HistoricalLocations', view: 'sta_historical_location', idType: 'string',
    props: { '@iot.id': id(), time: time('time') },
    navs: {
      Thing: { target: 'Thing', many: false, on: (c, p) => `${c}.id = ${p}.thing_id` },
      Locations: { target: 'Location', many: true, on: (c, p) => `${c}.id = ${p}.location_id` },
    },
    defaultOrder: (a) => [`${a}.id`],
  },
  Datastream: {
    name: 'Datastream', set: 'Datastreams', view: 'sta_datastream', idType: 'number',
    props: {
      '@iot.id': id(), name: col('name'), description: col('description'), observationType: col('observation_type'),
      unitOfMeasurement: col('unit_of_measurement', 'json'),
      observedArea: { sql: (a) => `point(${a}.lon, ${a}.lat)`, json: point, type: 'geo' },
      phenomenonTime: { sql: (a) => `${a}.last_time`, json: (a) => `${iso(`${a}.first_time`)} || '/' || ${iso(`${a}.last_time`)}`, type: 'interval' },
      resultTime: { sql: () => 'NULL::timestamptz', json: () => 'NULL', type: 'interval' },
      properties: col('properties', 'json'),
    },
    navs: {
      Thing: { target: 'Thing', many: false, on: (c, p) => `${c}.id = ${p}.thing_id` },
      Sensor: { target: 'Sensor', many: false, on: (c, p) => `${c}.id = ${p}.sensor_id` },
      ObservedProperty: { target: 'ObservedProperty', many: false, on: (c, p) => `${c}.id = ${p}.observed_property_id` },
      Observations: { target: 'Observation', many: true, datastream: (s, p) => `${s}.id = ${p}.id` },
    },
    defaultOrder: (a) => [`${a}.id`],
  },
  Sensor: {
    name: 'Sensor', set: 'Sensors', view: 'sta_sensor', idType: 'string',
    props: { '@iot.id': id(), name: col('name'), description: col('description'), encodingType: col('encoding_type'), metadata: col('metadata'), properties: col('properties', 'json') },
    navs: { Datastreams: { target: 'Datastream', many: true, on: (c, p) => `${c}.sensor_id = ${p}.id` } },
    defaultOrder: (a) => [`${a}.id`],
  },
  ObservedProperty: {
    name: 'ObservedProperty', set: 'ObservedProperties', view: 'sta_observed_property', idType: 'string',
    props: { '@iot.id': id(), name: col('name'), definition: col('definition'), description: col('description'), properties: col('properties', 'json') },
    navs: { Datastreams: { target: 'Datastream', many: true, on: (c, p) => `${c}.observed_property_id = ${p}.id` } },
    defaultOrder: (a) => [`${a}.id`],
  },
  Observation: {
    name: 'Observation', set: 'Observations', view: 'sta_observation', idType: 'string',
    props: {
      '@iot.id': id(), phenomenonTime: time('phenomenon_time'), resultTime: time('result_time'), result: col('result', 'number'),
      resultQuality: { sql: (a) => `${a}.quality_name`, type: 'string' },
      validTime: { sql: () => 'NULL::timestamptz', json: () => 'NULL', type: 'time' },
      parameters: col('parameters', 'json'),
    },
    navs: {
      Datastream: { target: 'Datastream', many: false, on: (c, p) => `${c}.id = ${p}.datastream_id` },
      FeatureOfInterest: { target: 'FeatureOfInterest', many: false, on: (c, p) => `${c}.id = ${p}.foi_id` },
    },
    defaultOrder: (a) => [`${a}.datastream_id`, `${a}.phenomenon_time`],
  },
  FeatureOfInterest: {
    name: 'FeatureOfInterest', set: 'FeaturesOfInterest', view: 'sta_feature', idType: 'string',
    props: { '@iot.id': id(), name: col('name'), description: col('description'), encodingType: col('encoding_type'), feature: geo, properties: col('properties', 'json') },
    navs: { Observations: { target: 'Observation', many: true, datastream: (s, p) => `${s}.thing_id = ${p}.id` } },
    defaultOrder: (a) => [`${a}.id`],
  },
}

export const SETS: Record<string, EntityDef> = Object.fromEntries(Object.values(ENTITIES).map((e) => [e.set, e]))

/** Quality codes as `resultQuality` (docs/storage.md#quality). */
export const QUALITY_NAMES = ['good', 'out_of_range', 'bad', 'uncertain', 'stuck', 'saturated', 'spike'] as const

/** The placeholders of the values every view needs. */
export interface ViewParams {
  catalogue: string
  indicators: string
  domainsAll: string
  domainsAny: string
  pairs: string
  deny: string
}

const coord = (keys: string[]) => `CASE ${keys.map((k) => `WHEN jsonb_typeof(d.metadata->'${k}') = 'number' THEN (d.metadata->>'${k}')::float8`).join(' ')} END`

/**
 * The entity sets as CTEs (NOT MATERIALIZED, so conditions are pushed into
 * them and the indexes of `devices`, `sta_datastreams`, `telemetry` and
 * `indicator_values` are used).
 */
export function withViews(p: ViewParams): string {
  const openDevice = `d.kind = 'device' AND d.domain = ANY(${p.domainsAny}::text[]) AND NOT (d.id = ANY(${p.deny}::text[]))`
  return `WITH
sta_cat AS NOT MATERIALIZED (SELECT * FROM jsonb_to_recordset(${p.catalogue}::jsonb) AS c(domain text, metric text, unit text, description text)),
sta_ind AS NOT MATERIALIZED (SELECT * FROM jsonb_to_recordset(${p.indicators}::jsonb) AS i(name text, unit text, description text)),
sta_dev AS NOT MATERIALIZED (
  SELECT d.id, d.domain, d.metadata, d.created_at, ${coord(['longitude', 'lon', 'lng'])} AS lon, ${coord(['latitude', 'lat'])} AS lat
    FROM devices d WHERE ${openDevice}),
sta_datastream AS NOT MATERIALIZED (
  SELECT s.id, s.device_id || ' ' || s.metric AS name, coalesce(c.description, s.metric) || ' at ' || s.device_id AS description,
         'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement' AS observation_type,
         json_build_object('name', coalesce(c.unit, ''), 'symbol', coalesce(c.unit, ''), 'definition', '') AS unit_of_measurement,
         s.first_time, s.last_time, d.lon, d.lat, jsonb_build_object('domain', d.domain, 'metric', s.metric) AS properties,
         s.device_id AS thing_id, s.device_id AS sensor_id, d.domain || '.' || s.metric AS observed_property_id,
         s.device_id, s.metric, NULL::text AS indicator, NULL::text AS scope, NULL::text AS key
    FROM sta_datastreams s JOIN sta_dev d ON d.id = s.device_id LEFT JOIN sta_cat c ON c.domain = d.domain AND c.metric = s.metric
   WHERE s.device_id IS NOT NULL AND (d.domain = ANY(${p.domainsAll}::text[]) OR (d.domain || '.' || s.metric) = ANY(${p.pairs}::text[]))
  UNION ALL
  SELECT s.id, s.indicator || ' ' || s.scope || ' ' || s.key, i.description || ' (' || s.scope || ' ' || s.key || ')',
         'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement',
         json_build_object('name', i.unit, 'symbol', i.unit, 'definition', ''),
         s.first_time, s.last_time, NULL::float8, NULL::float8, jsonb_build_object('indicator', s.indicator, 'scope', s.scope, 'key', s.key),
         CASE WHEN s.scope = 'device' THEN s.key ELSE s.scope || ':' || s.key END, 'indicator:' || s.indicator, 'indicator.' || s.indicator,
         NULL, NULL, s.indicator, s.scope, s.key
    FROM sta_datastreams s JOIN sta_ind i ON i.name = s.indicator
   WHERE s.indicator IS NOT NULL AND (s.scope <> 'device' OR EXISTS (SELECT 1 FROM sta_dev d WHERE d.id = s.key))),
sta_thing AS NOT MATERIALIZED (
  SELECT d.id, coalesce(d.metadata->>'name', d.id) AS name, coalesce(d.metadata->>'description', d.domain || ' device ' || d.id) AS description,
         d.metadata || jsonb_build_object('domain', d.domain) AS properties, d.lon, d.lat, d.created_at
    FROM sta_dev d
  UNION ALL
  SELECT s.scope || ':' || s.key, s.key, 'The ' || replace(s.scope, '_', ' ') || ' ' || s.key || ' (indicators over its devices)',
         jsonb_build_object('scope', s.scope), NULL::float8, NULL::float8, min(s.first_time)
    FROM sta_datastreams s JOIN sta_ind i ON i.name = s.indicator WHERE s.indicator IS NOT NULL AND s.scope <> 'device' GROUP BY s.scope, s.key),
sta_location AS NOT MATERIALIZED (
  SELECT t.id, t.name, 'Where ' || t.name || ' stands' AS description, 'application/geo+json' AS encoding_type, t.lon, t.lat, '{}'::jsonb AS properties, t.id AS thing_id
    FROM sta_thing t WHERE t.lon IS NOT NULL AND t.lat IS NOT NULL),
sta_historical_location AS NOT MATERIALIZED (
  SELECT l.id, t.created_at AS time, l.thing_id, l.id AS location_id FROM sta_location l JOIN sta_thing t ON t.id = l.thing_id),
sta_sensor AS NOT MATERIALIZED (
  SELECT d.id, coalesce(d.metadata->>'model', d.domain || ' sensor') AS name, 'The instrument of ' || d.id AS description,
         'text/plain' AS encoding_type, coalesce(d.metadata->>'model', '') AS metadata, '{}'::jsonb AS properties
    FROM sta_dev d
  UNION ALL
  SELECT 'indicator:' || i.name, i.name, 'gridline computes ' || i.description, 'text/html', 'https://github.com/gridline/gridline/blob/main/docs/indicators.md', '{}'::jsonb FROM sta_ind i),
sta_observed_property AS NOT MATERIALIZED (
  SELECT c.domain || '.' || c.metric AS id, c.metric AS name, 'https://github.com/gridline/gridline/blob/main/schemas/catalogue/' || c.domain || '.json#' || c.metric AS definition,
         c.description, jsonb_build_object('domain', c.domain, 'unit', c.unit) AS properties
    FROM sta_cat c WHERE c.domain = ANY(${p.domainsAll}::text[]) OR (c.domain || '.' || c.metric) = ANY(${p.pairs}::text[])
  UNION ALL
  SELECT 'indicator.' || i.name, i.name, 'https://github.com/gridline/gridline/blob/main/docs/indicators.md', i.description, jsonb_build_object('unit', i.unit) FROM sta_ind i),
sta_feature AS NOT MATERIALIZED (
  SELECT t.id, t.name, 'The place ' || t.name || ' observes' AS description, 'application/geo+json' AS encoding_type, t.lon, t.lat, '{}'::jsonb AS properties FROM sta_thing t)
`
}

/**
 * Observations of the Datastreams that `restrict` (over alias `s`) selects,
 * each Datastream's rows filtered, ordered and cut inside a LATERAL so that
 * the primary keys (device_id, metric, time) and (name, scope, key, time)
 * are walked in order and no Datastream is read past what the page needs.
 */
export function observationSource(restrict: string, where: string, order: string, limit: string): string {
  // Each source is filtered, ordered and cut on its own (a UNION ALL under one ORDER BY is not walked in index order).
  const branch = (select: string) => `(SELECT * FROM (${select}) o WHERE ${where} ORDER BY ${order} LIMIT ${limit})`
  return `(SELECT o.id, s.id AS datastream_id, o.phenomenon_time, o.result_time, o.result, o.quality, o.quality_name, o.parameters, o.foi_id
  FROM (SELECT * FROM sta_datastream ORDER BY id) s CROSS JOIN LATERAL (
  ${branch(`SELECT s.id || '-' || floor(extract(epoch FROM t.time) * 1000)::bigint AS id, s.id AS datastream_id, t.time AS phenomenon_time, t.received_at AS result_time,
           t.value AS result, t.quality, (ARRAY['good','out_of_range','bad','uncertain','stuck','saturated','spike'])[t.quality + 1] AS quality_name,
           NULL::jsonb AS parameters, s.thing_id AS foi_id
      FROM telemetry t WHERE s.device_id IS NOT NULL AND t.device_id = s.device_id AND t.metric = s.metric`)}
  UNION ALL
  ${branch(`SELECT s.id || '-' || floor(extract(epoch FROM v.time) * 1000)::bigint AS id, s.id AS datastream_id, v.time AS phenomenon_time, v.computed_at AS result_time,
           v.value AS result, 0::smallint AS quality, 'good'::text AS quality_name, jsonb_build_object('level', v.level, 'revision', v.revision) AS parameters, s.thing_id AS foi_id
      FROM indicator_values v WHERE s.indicator IS NOT NULL AND v.name = s.indicator AND v.scope = s.scope AND v.key = s.key`)}
  ) o
  WHERE ${restrict})`
}
