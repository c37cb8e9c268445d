import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type TestService, startTestService } from '@gridline/ingest/testing'
import { waitFor } from '../../../test/support.ts'

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
    ['Datastreams/name eq \'x\' or @iot.id eq \'aq-1\'', 'error'],
    ['@iot.id eq \'tank-1\'', ['tank-1']],
  ])('Things $filter=%s', async (filter, ids) => {
    const { status, body } = await get(`/Things?$top=100&$filter=${encodeURIComponent(filter)}`)
    if (ids === 'error') { expect(status).toBe(400); return }
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
    const things = await get(`/Things?$filter=${encodeURIComponent('st_intersects(Locations/location, geography\'POINT(1 2)\')')}`)
    expect(things.status).toBe(400)
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
