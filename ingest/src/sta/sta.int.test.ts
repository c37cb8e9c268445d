import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'
import { STA_PLANNER_SETTINGS, prepareStaQuery } from './routes.ts'

// The SensorThings API in the real service: PostgreSQL, readings published
// over MQTT, real HTTP. Checks ported from the OGC conformance suite
// (opengeospatial/ets-sta10: sensingCore Capability1Tests, filteringExtension
// Capability3Tests and GeoTests), written again here, and the spec's example
// requests [OGC 18-088 9.2, 9.3].

let t: TestService
let sta: string
const T0 = Date.parse('2026-12-01T00:00:00Z')
const MIN = 60_000

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers; text: string }> {
  const res = await fetch(`${sta}${path}`, { headers })
  const text = await res.text()
  let body: unknown
  try { body = JSON.parse(text) } catch { body = undefined }
  return { status: res.status, body, headers: res.headers, text }
}

beforeAll(async () => {
  t = await startTestService({
    devices: [
      { id: 'aq-1', domain: 'environment', metadata: { district: 'Hải Châu', latitude: 16.0544, longitude: 108.2022 } },
      { id: 'aq-2', domain: 'environment', metadata: { district: 'Sơn Trà', lat: 16.1, lon: 108.25 } },
      { id: 'gauge-1', domain: 'environment', metadata: { gauge: 'river' } },
      { id: 'lamp-1', domain: 'lighting', metadata: { circuit: 'Bạch Đằng', latitude: 16.06, longitude: 108.22 } },
      { id: 'tank-1', domain: 'water', metadata: { latitude: 16.02, longitude: 108.19 } },
    ],
    config: { sta: { datastreamFlushMs: 100, rateLimit: { requestsPerMinute: 100_000, burst: 10_000 } } },
  })
  sta = `${t.httpUrl}/sta/v1.1`
  const publish = async (device: string, domain: string, readings: { ts: number; values: Record<string, number> }[]) => {
    const client = await t.connect(device)
    for (const [i, r] of readings.entries()) {
      await client.publishAsync(`telemetry/${domain}/${device}`, JSON.stringify({ ts: new Date(r.ts).toISOString(), seq: i + 1, values: r.values }), { qos: 1 })
    }
    await client.endAsync()
  }
  await publish('aq-1', 'environment', Array.from({ length: 30 }, (_, i) => ({ ts: T0 + i * MIN, values: { pm25: 10 + i, temperature: 25 + i / 10 } })))
  await publish('aq-2', 'environment', Array.from({ length: 5 }, (_, i) => ({ ts: T0 + i * MIN, values: { pm25: 50 + i } })))
  await publish('lamp-1', 'lighting', [{ ts: T0, values: { lamp_on: 1, power: 80 } }])
  await publish('tank-1', 'water', [{ ts: T0, values: { level: 3.5, pump_on: 1 } }])
  await t.db.pool.query(`INSERT INTO indicator_values (name, scope, key, time, value, level) VALUES
    ('vn_aqi_hourly', 'district', 'Hải Châu', $1, 72, 'moderate'), ('vn_aqi_hourly', 'district', 'Hải Châu', $2, 80, 'moderate'),
    ('traffic_los', 'road_segment', 'Bạch Đằng', $1, 3, 'C')`, [new Date(T0 + 3_600_000), new Date(T0 + 7_200_000)])
  await t.db.pool.query(`INSERT INTO sta_datastreams (indicator, scope, key, first_time, last_time)
    SELECT name, scope, key, min(time), max(time) FROM indicator_values GROUP BY 1, 2, 3`)
  await waitFor(async () => (await t.db.pool.query(`SELECT count(*)::int AS n FROM sta_datastreams WHERE device_id IS NOT NULL`)).rows[0].n >= 6, 10_000, 'datastreams tracked')
})

afterAll(async () => {
  await t?.stop()
})

async function datastreamId(device: string, metric: string): Promise<number> {
  const { rows } = await t.db.pool.query(`SELECT id FROM sta_datastreams WHERE device_id = $1 AND metric = $2`, [device, metric])
  return Number(rows[0].id)
}

describe('sensing core (ets-sta10 Capability1Tests)', () => {
  test('the landing page lists every entity set and the conformance classes', async () => {
    const { status, body } = await get('')
    expect(status).toBe(200)
    expect(body.value.map((v: any) => v.name).sort()).toEqual(['Datastreams', 'FeaturesOfInterest', 'HistoricalLocations', 'Locations', 'Observations', 'ObservedProperties', 'Sensors', 'Things'])
    for (const v of body.value) expect(v.url).toBe(`${sta}/${v.name}`)
    expect(body.serverSettings.conformance).toContain('http://www.opengis.net/spec/iot_sensing/1.1/req/request-data')
  })

  test.each([
    ['Things', ['name', 'description'], ['Datastreams', 'Locations', 'HistoricalLocations']],
    ['Locations', ['name', 'description', 'encodingType', 'location'], ['Things', 'HistoricalLocations']],
    ['HistoricalLocations', ['time'], ['Thing', 'Locations']],
    ['Datastreams', ['name', 'description', 'unitOfMeasurement', 'observationType'], ['Thing', 'Sensor', 'ObservedProperty', 'Observations']],
    ['Sensors', ['name', 'description', 'encodingType', 'metadata'], ['Datastreams']],
    ['ObservedProperties', ['name', 'definition', 'description'], ['Datastreams']],
    ['Observations', ['phenomenonTime', 'result', 'resultTime'], ['Datastream', 'FeatureOfInterest']],
    ['FeaturesOfInterest', ['name', 'description', 'encodingType', 'feature'], ['Observations']],
  ])('GET %s: control information, mandatory properties and navigation links, then the entity by its id', async (set, props, navs) => {
    const list = await get(`/${set}`)
    expect(list.status).toBe(200)
    expect(list.body.value.length).toBeGreaterThan(0)
    const first = list.body.value[0]
    expect(first['@iot.id']).toBeDefined()
    const key = typeof first['@iot.id'] === 'number' ? String(first['@iot.id']) : `'${first['@iot.id']}'`
    expect(first['@iot.selfLink']).toBe(`${sta}/${set}(${key})`)
    for (const p of props) expect(first).toHaveProperty(p)
    for (const n of navs) expect(first[`${n}@iot.navigationLink`]).toBe(`${first['@iot.selfLink']}/${n}`)
    const one = await get(`/${set}(${encodeURIComponent(key)})`)
    expect(one.status).toBe(200)
    expect(one.body).toEqual(first)
    // Every navigation link answers (resource path level 2), and its $ref.
    for (const n of navs) {
      const nav = await get(`/${set}(${encodeURIComponent(key)})/${n}`)
      expect(nav.status, `${set}/${n}`).toBe(200)
      if (n.endsWith('s')) {
        const ref = await get(`/${set}(${encodeURIComponent(key)})/${n}/$ref`)
        expect(ref.status).toBe(200)
        for (const r of ref.body.value) expect(Object.keys(r)).toEqual(['@iot.selfLink'])
      }
    }
    // A property, and its $value.
    const prop = await get(`/${set}(${encodeURIComponent(key)})/${props[0]}`)
    expect(prop.status).toBe(200)
    expect(Object.keys(prop.body)).toEqual([props[0]])
    const raw = await get(`/${set}(${encodeURIComponent(key)})/${props[0]}/$value`)
    expect(raw.status).toBe(200)
    if (typeof prop.body[props[0]!] !== 'object') expect(raw.text).toBe(String(prop.body[props[0]!]))
  })

  test.each(['Things(\'nope\')', 'Datastreams(999999)', 'Observations(\'1-0\')', 'Sensors(\'x\')', 'ObservedProperties(\'x.y\')', 'Locations(\'x\')', 'HistoricalLocations(\'x\')', 'FeaturesOfInterest(\'x\')'])('GET a nonexistent entity %s: 404', async (path) => {
    const { status, body } = await get(`/${path}`)
    expect(status).toBe(404)
    expect(body).toMatchObject({ code: 404, type: 'error' })
  })

  test('only open data: lamps are not served, tank levels are but pumps are not', async () => {
    const things = (await get('/Things?$top=100')).body.value.map((x: any) => x['@iot.id'])
    expect(things).toContain('aq-1')
    expect(things).toContain('tank-1')
    expect(things).not.toContain('lamp-1')
    expect(things).toContain('district:Hải Châu')
    const ds = (await get('/Datastreams?$top=100')).body.value.map((x: any) => x.name)
    expect(ds).toContain('tank-1 level')
    expect(ds).not.toContain('tank-1 pump_on')
    expect(ds.some((n: string) => n.startsWith('lamp-1'))).toBe(false)
    expect(ds.some((n: string) => n.startsWith('traffic_los'))).toBe(false)
    expect((await get('/Things(\'lamp-1\')')).status).toBe(404)
  })

  test('a Datastream: unit from the catalogue, phenomenonTime range, its Thing, Sensor and ObservedProperty', async () => {
    const id = await datastreamId('aq-1', 'pm25')
    const { body } = await get(`/Datastreams(${id})?$expand=Thing,Sensor,ObservedProperty`)
    expect(body.unitOfMeasurement).toEqual({ name: 'ug/m3', symbol: 'ug/m3', definition: '' })
    expect(body.phenomenonTime).toBe('2026-12-01T00:00:00.000Z/2026-12-01T00:29:00.000Z')
    expect(body.observedArea).toEqual({ type: 'Point', coordinates: [108.2022, 16.0544] })
    expect(body.Thing['@iot.id']).toBe('aq-1')
    expect(body.Thing.properties).toMatchObject({ district: 'Hải Châu', domain: 'environment' })
    expect(body.Sensor['@iot.id']).toBe('aq-1')
    expect(body.ObservedProperty['@iot.id']).toBe('environment.pm25')
  })

  test('Observations of a Datastream: phenomenonTime, resultTime, result, resultQuality, id scheme', async () => {
    const id = await datastreamId('aq-1', 'pm25')
    const { body } = await get(`/Datastreams(${id})/Observations?$orderby=phenomenonTime desc&$top=2`)
    expect(body.value).toHaveLength(2)
    expect(body.value[0]).toMatchObject({ '@iot.id': `${id}-${T0 + 29 * MIN}`, phenomenonTime: '2026-12-01T00:29:00.000Z', result: 39, resultQuality: 'good' })
    expect(body['@iot.nextLink']).toContain('$skip=2')
    const one = await get(`/Observations('${id}-${T0 + 29 * MIN}')/Datastream`)
    expect(one.body['@iot.id']).toBe(id)
    const foi = await get(`/Observations('${id}-${T0}')/FeatureOfInterest`)
    expect(foi.body).toMatchObject({ '@iot.id': 'aq-1', feature: { type: 'Point', coordinates: [108.2022, 16.0544] } })
  })

  test('an indicator history is a Datastream of its own, on the district\'s Thing', async () => {
    const { body } = await get(`/Things('district:Hải Châu')/Datastreams?$expand=Observations($orderby=phenomenonTime)`)
    expect(body.value).toHaveLength(1)
    expect(body.value[0].unitOfMeasurement.symbol).toBe('VN_AQI')
    expect(body.value[0].Observations.map((o: any) => o.result)).toEqual([72, 80])
    expect(body.value[0].Observations[0].parameters).toEqual({ level: 'moderate', revision: 0 })
  })
})

describe('filtering (ets-sta10 Capability3Tests)', () => {
  test('$select returns only what is asked', async () => {
    const { body } = await get('/Things?$select=name,@iot.id')
    for (const x of body.value) expect(Object.keys(x).sort()).toEqual(['@iot.id', '@iot.selfLink', 'name'])
  })

  test('$top, $skip, nextLink and $count page through a set without gaps or repeats', async () => {
    const id = await datastreamId('aq-1', 'pm25')
    const seen: number[] = []
    let next: string | undefined = `${sta}/Datastreams(${id})/Observations?$top=7&$count=true`
    let count: number | undefined
    while (next) {
      const res: any = await (await fetch(next)).json()
      count ??= res['@iot.count']
      seen.push(...res.value.map((o: any) => o.result))
      next = res['@iot.nextLink']
    }
    expect(count).toBe(30)
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => 10 + i))
  })

  test('$orderby on a property, asc and desc', async () => {
    const asc = (await get('/Things?$orderby=name asc&$top=100')).body.value.map((x: any) => x.name)
    expect(asc).toEqual([...asc].sort())
    const desc = (await get('/Things?$orderby=name desc&$top=100')).body.value.map((x: any) => x.name)
    expect(desc).toEqual([...asc].reverse())
  })

  test.each([
    ['result gt 35', 4],
    ['result ge 35 and result le 36', 2],
    ['result lt 12 or result eq 39', 3],
    ['not (result lt 38)', 2],
    ['result add 1 eq 11', 1],
    ['result mul 2 gt 76', 1],
    ['result div 2 eq 5', 1],
    ['result mod 10 eq 0', 3],
    ['result sub 5 eq -(-5)', 1],
    ['phenomenonTime ge 2026-12-01T00:25:00Z', 5],
    ['phenomenonTime lt 2026-12-01T00:05:00.000+00:00', 5],
    ['minute(phenomenonTime) eq 7', 1],
    ['hour(phenomenonTime) eq 0 and day(phenomenonTime) eq 1 and month(phenomenonTime) eq 12 and year(phenomenonTime) eq 2026', 30],
    ['phenomenonTime gt 2026-12-01T00:00:00Z add duration\'PT28M\'', 1],
    ['round(result div 4) eq 3', 3],
    ['floor(result div 10) eq 1', 10],
    ['ceiling(result div 10) eq 4', 9],
    ['resultQuality eq \'good\'', 30],
    ['phenomenonTime le now()', 30],
  ])('Observations $filter=%s', async (filter, n) => {
    const id = await datastreamId('aq-1', 'pm25')
    const { status, body } = await get(`/Datastreams(${id})/Observations?$top=100&$filter=${encodeURIComponent(filter)}`)
    expect(status, JSON.stringify(body)).toBe(200)
    expect(body.value).toHaveLength(n)
  })

  test.each([
    ['name eq \'aq-1\'', ['aq-1']],
    ['startswith(name, \'aq\')', ['aq-1', 'aq-2']],
    ['endswith(name, \'-2\')', ['aq-2']],
    ['substringof(\'auge\', name)', ['gauge-1']],
    ['contains(name, \'auge\')', ['gauge-1']],
    ['length(name) eq 4 and startswith(name, \'aq\')', ['aq-1', 'aq-2']],
    ['indexof(name, \'-\') eq 2', ['aq-1', 'aq-2']],
    ['substring(name, 3) eq \'1\'', ['aq-1']],
    ['tolower(toupper(name)) eq \'aq-2\'', ['aq-2']],
    ['trim(concat(\' \', name)) eq \'aq-1\'', ['aq-1']],
    ['properties/district eq \'Sơn Trà\'', ['aq-2']],
    ['properties/gauge eq \'river\'', ['gauge-1']],
    ['properties/latitude gt 16.05', ['aq-1']],
    ['Datastreams/name eq \'x\' or @iot.id eq \'aq-1\'', ['aq-1']],
    ['@iot.id eq \'tank-1\'', ['tank-1']],
  ])('Things $filter=%s', async (filter, ids) => {
    const { status, body } = await get(`/Things?$top=100&$filter=${encodeURIComponent(filter)}`)
    expect(status, JSON.stringify(body)).toBe(200)
    expect(body.value.map((x: any) => x['@iot.id']).sort()).toEqual(ids)
  })

  test('a path through single entities in $filter: Observations of one Thing by Datastream/Thing/name', async () => {
    const { body } = await get(`/Observations?$top=100&$filter=${encodeURIComponent('Datastream/Thing/@iot.id eq \'aq-2\' and phenomenonTime ge 2026-12-01T00:00:00Z')}`)
    expect(body.value.map((o: any) => o.result).sort()).toEqual([50, 51, 52, 53, 54])
  })

  test('geo.distance and st_within on Locations (ets-sta10 GeoTests)', async () => {
    const near = await get(`/Locations?$filter=${encodeURIComponent('geo.distance(location, geography\'POINT(108.2022 16.0544)\') lt 0.01')}`)
    expect(near.body.value.map((l: any) => l['@iot.id'])).toEqual(['aq-1'])
    const inside = await get(`/Locations?$filter=${encodeURIComponent('st_within(location, geography\'POLYGON((108.1 16.0, 108.3 16.0, 108.3 16.08, 108.1 16.08, 108.1 16.0))\')')}`)
    expect(inside.body.value.map((l: any) => l['@iot.id']).sort()).toEqual(['aq-1', 'tank-1'])
    const ordered = await get(`/Locations?$orderby=${encodeURIComponent('geo.distance(location, geography\'POINT(108.25 16.1)\')')}`)
    expect(ordered.body.value[0]['@iot.id']).toBe('aq-2')
    // Through the Things' Locations (a collection): a Thing with any Location inside.
    const things = await get(`/Things?$filter=${encodeURIComponent('st_within(Locations/location, geography\'POLYGON((108.1 16.0, 108.3 16.0, 108.3 16.08, 108.1 16.08, 108.1 16.0))\')')}`)
    expect(things.body.value.map((x: any) => x['@iot.id']).sort()).toEqual(['aq-1', 'tank-1'])
  })

  test('$expand nested, each level with its own options', async () => {
    const { status, body } = await get(`/Things('aq-1')?$select=name&$expand=${encodeURIComponent('Datastreams($select=name;$orderby=name;$expand=Observations($top=1;$orderby=phenomenonTime desc;$select=result)),Locations')}`)
    expect(status, JSON.stringify(body)).toBe(200)
    expect(body.Datastreams.map((d: any) => d.name)).toEqual(['aq-1 pm25', 'aq-1 temperature'])
    expect(body.Datastreams[0].Observations).toEqual([expect.objectContaining({ result: 39 })])
    expect(Object.keys(body.Datastreams[0].Observations[0]).sort()).toEqual(['@iot.id', '@iot.selfLink', 'result'])
    expect(body.Datastreams[0]['Observations@iot.nextLink']).toBeDefined()
    expect(body.Locations[0].location).toEqual({ type: 'Point', coordinates: [108.2022, 16.0544] })
    const shortcut = await get('/Datastreams?$expand=Thing/Locations&$top=1')
    expect(shortcut.body.value[0].Thing.Locations).toBeDefined()
  })

  test('the latest Observation of every Datastream in one request', async () => {
    const { body } = await get(`/Datastreams?$top=100&$expand=${encodeURIComponent('Observations($top=1;$orderby=phenomenonTime desc)')}`)
    const byName = Object.fromEntries(body.value.map((d: any) => [d.name, d.Observations[0]?.result]))
    expect(byName['aq-1 pm25']).toBe(39)
    expect(byName['aq-2 pm25']).toBe(54)
    expect(byName['tank-1 level']).toBe(3.5)
  })

  test('the dataArray result format', async () => {
    const id = await datastreamId('aq-2', 'pm25')
    const { body } = await get(`/Datastreams(${id})/Observations?$resultFormat=dataArray&$select=id,phenomenonTime,result`.replace('$select=id', '$select=@iot.id'))
    expect(body.value).toHaveLength(1)
    expect(body.value[0]).toMatchObject({ 'Datastream@iot.navigationLink': `${sta}/Datastreams(${id})`, components: ['id', 'phenomenonTime', 'result'], 'dataArray@iot.count': 5 })
    expect(body.value[0].dataArray[0]).toEqual([`${id}-${T0}`, '2026-12-01T00:00:00.000Z', 50])
  })
})

describe('paths through collections in $filter: any related entity (as FROST-Server reads them)', () => {
  const ids = (body: any) => body.value.map((x: any) => x['@iot.id']).sort()

  test.each([
    ['Things', 'Datastreams/name eq \'aq-1 temperature\'', ['aq-1']],
    ['Things', 'Datastreams/ObservedProperty/name eq \'pm25\'', ['aq-1', 'aq-2']],
    ['Things', 'not (Datastreams/ObservedProperty/name eq \'pm25\')', ['district:Hải Châu', 'gauge-1', 'tank-1']],
    ['Things', 'Datastreams/Observations/result ge 39', ['aq-1', 'aq-2', 'district:Hải Châu']],
    ['Things', 'Datastreams/name eq concat(Datastreams/Thing/@iot.id, \' temperature\')', ['aq-1']],
    ['Things', 'startswith(Datastreams/unitOfMeasurement/symbol, \'VN\')', ['district:Hải Châu']],
    ['Locations', 'Things/Datastreams/ObservedProperty/name eq \'pm25\'', ['aq-1', 'aq-2']],
    ['ObservedProperties', 'Datastreams/Thing/@iot.id eq \'tank-1\'', ['water.level']],
    ['Sensors', 'Datastreams/Observations/result gt 70 and Datastreams/Observations/result lt 75', ['indicator:vn_aqi_hourly']],
    ['FeaturesOfInterest', 'Observations/result eq 3.5', ['tank-1']],
    ['HistoricalLocations', 'Locations/Things/Datastreams/name eq \'aq-2 pm25\'', ['aq-2']],
  ])('%s?$filter=%s', async (set, filter, expected) => {
    const { status, body } = await get(`/${set}?$top=100&$filter=${encodeURIComponent(filter)}`)
    expect(status, JSON.stringify(body)).toBe(200)
    expect(ids(body)).toEqual(expected)
  })

  test('Datastreams?$filter=Observations/result gt 50: telemetry and indicator Datastreams, each once', async () => {
    const { body } = await get(`/Datastreams?$top=100&$filter=${encodeURIComponent('Observations/result gt 50')}`)
    expect(body.value.map((d: any) => d.name).sort()).toEqual(['aq-2 pm25', 'vn_aqi_hourly district Hải Châu'])
  })

  test('Observations through their Datastream\'s Thing\'s Datastreams (to-one, then a collection)', async () => {
    const filter = 'Datastream/Thing/Datastreams/name eq \'aq-1 temperature\' and phenomenonTime ge 2026-12-01T00:25:00Z'
    const { status, body } = await get(`/Observations?$top=100&$filter=${encodeURIComponent(filter)}`)
    expect(status, JSON.stringify(body)).toBe(200)
    // aq-1's pm25 and temperature from 00:25 on; no other Thing has a Datastream of that name.
    expect(body.value).toHaveLength(10)
  })

  test('$count and paging: each entity once, however many related entities match', async () => {
    const seen: string[] = []
    let next: string | undefined = `${sta}/Things?$top=1&$count=true&$filter=${encodeURIComponent('Datastreams/Observations/result gt 0')}`
    let count: number | undefined
    while (next) {
      const res: any = await (await fetch(next)).json()
      count ??= res['@iot.count']
      seen.push(...res.value.map((x: any) => x['@iot.id']))
      next = res['@iot.nextLink']
    }
    expect(count).toBe(4)
    expect(seen.sort()).toEqual(['aq-1', 'aq-2', 'district:Hải Châu', 'tank-1'])
  })

  test('in an expansion\'s $filter too', async () => {
    const { body } = await get(`/Things('aq-1')?$expand=${encodeURIComponent('Datastreams($filter=Observations/result gt 30;$select=name)')}`)
    expect(body.Datastreams.map((d: any) => d.name)).toEqual(['aq-1 pm25'])
  })

  test('the comparison is one bind parameter, never SQL text', () => {
    const { sql, values } = prepareStaQuery(t.config.sta, 'Things', `$filter=${encodeURIComponent('Datastreams/name eq \'x\'\'; DROP TABLE telemetry; --\'')}`)
    expect(sql).toContain('EXISTS (SELECT 1 FROM sta_datastream')
    expect(sql).not.toContain('DROP')
    expect(values).toContain('x\'; DROP TABLE telemetry; --')
  })
})

describe('expanded collections\' @iot.nextLink keeps the expansion\'s options', () => {
  test('$top, $filter, $orderby, $select: following the link gives the next page of the same query', async () => {
    const id = await datastreamId('aq-1', 'pm25')
    const options = 'Observations($top=2;$filter=result gt 30;$orderby=phenomenonTime desc;$select=result;$count=true)'
    const { body } = await get(`/Datastreams(${id})?$expand=${encodeURIComponent(options)}`)
    expect(body.Observations.map((o: any) => o.result)).toEqual([39, 38])
    expect(body['Observations@iot.count']).toBe(9)
    const link: string = body['Observations@iot.nextLink']
    expect(link.startsWith(`${sta}/Datastreams(${id})/Observations?`)).toBe(true)
    const results: number[] = [39, 38]
    let next: string | undefined = link
    while (next) {
      const page: any = await (await fetch(next)).json()
      expect(page['@iot.count']).toBe(9)
      for (const o of page.value) expect(Object.keys(o).sort()).toEqual(['@iot.id', '@iot.selfLink', 'result'])
      results.push(...page.value.map((o: any) => o.result))
      next = page['@iot.nextLink']
    }
    expect(results).toEqual([39, 38, 37, 36, 35, 34, 33, 32, 31])
  })

  test('a nested $expand stays on the link, and so does a shortcut path\'s inner options', async () => {
    const { body } = await get(`/Things?$filter=${encodeURIComponent('@iot.id eq \'aq-1\'')}&$expand=${encodeURIComponent('Datastreams($top=1;$orderby=name;$expand=Observations($top=1;$orderby=phenomenonTime desc))')}`)
    const thing = body.value[0]
    expect(thing.Datastreams.map((d: any) => d.name)).toEqual(['aq-1 pm25'])
    const next: any = await (await fetch(thing['Datastreams@iot.nextLink'])).json()
    expect(next.value.map((d: any) => d.name)).toEqual(['aq-1 temperature'])
    expect(next.value[0].Observations).toEqual([expect.objectContaining({ phenomenonTime: '2026-12-01T00:29:00.000Z' })])
    const short = await get(`/Things('aq-1')?$expand=${encodeURIComponent('Datastreams/Observations($top=1;$filter=result lt 12)')}`)
    const pm25 = short.body.Datastreams.find((d: any) => d.name === 'aq-1 pm25')
    const rest: any = await (await fetch(pm25['Observations@iot.nextLink'])).json()
    expect(rest.value.map((o: any) => o.result)).toEqual([11])
  })
})

describe('metrics on /metrics', () => {
  test('requests by entity set and status class, durations, rows returned, refusals by reason', async () => {
    await get('/Things?$top=2')
    await get('/Datastreams(999999)')
    await get('/Things?$filter=colour')
    await get('/Things', { 'x-api-key': 'not-a-key' })
    const text = await (await fetch(`${t.httpUrl}/metrics`)).text()
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
    expect(value('gridline_sta_requests_total{entity_set="Things",status_class="2xx"}')).toBeGreaterThanOrEqual(1)
    expect(value('gridline_sta_requests_total{entity_set="Datastreams",status_class="4xx"}')).toBeGreaterThanOrEqual(1)
    expect(value('gridline_sta_request_duration_seconds_count{entity_set="Things"}')).toBeGreaterThanOrEqual(3)
    expect(value('gridline_sta_rows_returned_total{entity_set="Things"}')).toBeGreaterThanOrEqual(2)
    expect(value('gridline_sta_refused_total{reason="bad_query"}')).toBeGreaterThanOrEqual(1)
    expect(value('gridline_sta_refused_total{reason="not_found"}')).toBeGreaterThanOrEqual(1)
    expect(value('gridline_sta_refused_total{reason="unauthorized"}')).toBeGreaterThanOrEqual(1)
    expect(value('gridline_sta_refused_total{reason="rate_limited"}')).toBe(0)
  })
})

describe('the spec\'s example requests [OGC 18-088 9.2, 9.3]', () => {
  test.each([
    '/Things',
    '/Things(\'aq-1\')',
    '/Things(\'aq-1\')/Locations',
    '/Things(\'aq-1\')/Datastreams',
    '/Things(\'aq-1\')/name',
    '/Things(\'aq-1\')/name/$value',
    '/Things(\'aq-1\')/Datastreams/$ref',
    '/Datastreams?$expand=Observations,ObservedProperty',
    '/Things?$expand=Datastreams/ObservedProperty',
    '/Datastreams?$expand=Observations($filter=result eq 1)',
    '/Observations?$select=result,resultTime',
    '/Things?$orderby=name',
    '/Observations?$top=5',
    '/Observations?$skip=2',
    '/Things?$count=true',
    '/Observations?$filter=phenomenonTime ge 2026-12-01T00:00:00Z and result gt 20',
    '/Locations?$filter=geo.intersects(location, geography\'POLYGON ((108 16, 109 16, 109 17, 108 17, 108 16))\')',
  ])('%s answers 200', async (path) => {
    const { status, body } = await get(path.replace(/ /g, '%20'))
    expect(status, JSON.stringify(body)).toBe(200)
  })
})

describe('HTTP: CORS, cache headers, API keys, rate limit', () => {
  test('answers carry CORS and cache headers; a preflight is answered', async () => {
    const res = await get('/Things', { origin: 'https://portal.example' })
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('cache-control')).toBe('public, max-age=10')
    const pre = await fetch(`${sta}/Things`, { method: 'OPTIONS', headers: { origin: 'https://portal.example', 'access-control-request-method': 'GET' } })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-methods')).toContain('GET')
  })

  test('an unknown API key is refused with the error shape', async () => {
    const res = await get('/Things', { 'x-api-key': 'not-a-key' })
    expect(res.status).toBe(401)
    expect(res.body).toEqual({ code: 401, type: 'error', message: 'The API key is not known.' })
  })
})

describe('a path through Observations stays on the index (EXPLAIN)', () => {
  const ROWS = 200_000
  beforeAll(async () => {
    await t.db.pool.query(`INSERT INTO devices (id, kind, domain) VALUES ('bulk-1', 'device', 'environment')`)
    await t.db.pool.query(`INSERT INTO telemetry (time, device_id, metric, value, quality)
      SELECT $1::timestamptz + i * interval '250 milliseconds', 'bulk-1', 'pm25', i % 500, 0 FROM generate_series(0, $2::int - 1) i`, [new Date(T0).toISOString(), ROWS])
    await t.db.pool.query(`INSERT INTO sta_datastreams (device_id, metric, first_time, last_time) VALUES ('bulk-1', 'pm25', $1, $2)
      ON CONFLICT (device_id, metric) WHERE device_id IS NOT NULL DO NOTHING`, [new Date(T0), new Date(T0 + (ROWS - 1) * 250)])
    await t.db.pool.query('ANALYZE telemetry; ANALYZE sta_datastreams; ANALYZE devices')
  })

  const scans = (node: any, out: any[] = []): any[] => {
    if (typeof node['Relation Name'] === 'string' && node['Relation Name'].startsWith('telemetry')) out.push(node)
    for (const child of node.Plans ?? []) scans(child, out)
    return out
  }

  test.each([
    ['Datastreams', 'Observations/result gt 1000'],
    ['Things', 'Datastreams/Observations/result eq 499'],
  ])('%s?$filter=%s: every read of telemetry is an index scan of one Datastream', async (set, filter) => {
    const { sql, values } = prepareStaQuery(t.config.sta, set, `$filter=${encodeURIComponent(filter)}`)
    // Planned as the service plans it: in a transaction with its planner settings.
    const client = await t.db.pool.connect()
    let rows: any[]
    try {
      await client.query('BEGIN READ ONLY')
      await client.query(STA_PLANNER_SETTINGS)
      rows = (await client.query({ text: `EXPLAIN (FORMAT JSON) ${sql}`, values })).rows
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    // The partitions that hold rows (an empty one is read by a sequential scan of nothing).
    const filled = new Set((await t.db.pool.query(`SELECT relname FROM pg_class WHERE relname LIKE 'telemetry%' AND relkind = 'r' AND reltuples > 0`)).rows.map((r) => r.relname))
    const found = scans(rows[0]['QUERY PLAN'][0].Plan).filter((node) => filled.has(node['Relation Name']))
    expect(found.length).toBeGreaterThan(0)
    for (const node of found) {
      expect(node['Node Type'], JSON.stringify(node)).toMatch(/^Index (Only )?Scan$/)
      expect(node['Index Cond']).toMatch(/device_id = .*metric = /)
    }
    const res = await get(`/${set}?$top=100&$filter=${encodeURIComponent(filter)}`)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
  })

  // /Observations?$top=100 once built 101 rows of every Datastream and sorted them all
  // (700 ms with 1,000 Datastreams): the Datastreams are now walked in id order and the
  // page is cut after the first ones (an incremental sort under the limit).
  test('a page of all Observations reads the first Datastreams in id order, not a page of each', async () => {
    const { sql, values } = prepareStaQuery(t.config.sta, 'Observations', '$top=100')
    const client = await t.db.pool.connect()
    let plan: any
    try {
      await client.query('BEGIN READ ONLY')
      await client.query(STA_PLANNER_SETTINGS)
      plan = (await client.query({ text: `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, values })).rows[0]['QUERY PLAN'][0].Plan
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    expect(plan['Node Type']).toBe('Limit')
    expect(plan.Plans[0]['Node Type']).toBe('Incremental Sort')
    // Telemetry was read for the Datastreams the page needs, not for every one of them.
    const loops = scans(plan).filter((n) => n['Actual Loops'] > 0).map((n) => n['Actual Loops'] as number)
    const { rows } = await t.db.pool.query(`SELECT count(*)::int AS n FROM sta_datastreams WHERE device_id IS NOT NULL`)
    expect(Math.max(...loops)).toBeLessThan(rows[0].n)
    const page = await get('/Observations?$top=100')
    expect(page.status).toBe(200)
    expect(page.body.value).toHaveLength(100)
  })
})
