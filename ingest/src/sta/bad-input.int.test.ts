import { afterAll, beforeAll, expect, test } from 'vitest'
import { type TestService, startTestService } from '@gridline/ingest/testing'

// Bad input through every query option and the path: a 400 with the error
// shape ({code, type: "error", message}) and a message that says what was
// wrong, never a 500, and never SQL run from the text (the injections below
// would drop or leak a table if it were; afterwards every table is intact).

let t: TestService
let sta: string

beforeAll(async () => {
  t = await startTestService({
    devices: [{ id: 'aq-1', domain: 'environment', metadata: { latitude: 16.05, longitude: 108.2 } }],
    config: { sta: { rateLimit: { requestsPerMinute: 100_000, burst: 10_000 } } },
  })
  sta = `${t.httpUrl}/sta/v1.1`
  await t.db.pool.query(`INSERT INTO sta_datastreams (device_id, metric, first_time, last_time) VALUES ('aq-1', 'pm25', now(), now())`)
})

afterAll(async () => {
  await t?.stop()
})

const deep = (n: number) => `${'('.repeat(n)}result gt 1${')'.repeat(n)}`
const longOr = Array.from({ length: 150 }, (_, i) => `result eq ${i}`).join(' or ')

// [path and query as sent (already URL-safe where it matters), what the message must say]
const CASES: [string, string, RegExp][] = [
  ['malformed $filter: no operand', '/Things?$filter=name eq', /ends too early/],
  ['malformed $filter: unclosed string', `/Things?$filter=${encodeURIComponent("name eq 'abc")}`, /no closing quote/],
  ['malformed $filter: unbalanced parenthesis', `/Things?$filter=${encodeURIComponent('(name eq \'a\'')}`, /expected "\)"/],
  ['malformed $filter: stray parenthesis', `/Things?$filter=${encodeURIComponent('name eq \'a\')')}`, /unexpected "\)"/],
  ['malformed $filter: chained comparison', `/Things?$filter=${encodeURIComponent('1 lt 2 lt 3')}`, /chained/],
  ['malformed $filter: unknown operator', `/Things?$filter=${encodeURIComponent('name like \'a\'')}`, /unexpected "like"/],
  ['malformed $filter: empty', '/Things?$filter=', /empty/],
  ['malformed $filter: bad character', `/Things?$filter=${encodeURIComponent('name eq "a"')}`, /unexpected character/],
  ['$filter: unknown property', `/Things?$filter=${encodeURIComponent('colour eq \'red\'')}`, /no property "colour"/],
  ['$filter: unknown function', `/Things?$filter=${encodeURIComponent('drop(name) eq 1')}`, /unknown function "drop"/],
  ['$filter: wrong argument count', `/Things?$filter=${encodeURIComponent('startswith(name) eq true')}`, /takes 2 argument/],
  ['$filter: string compared with a number', `/Things?$filter=${encodeURIComponent('name gt 3')}`, /cannot compare a string with a number/],
  ['$filter: not a condition', `/Things?$filter=${encodeURIComponent('name')}`, /must be a condition/],
  ['$filter: arithmetic on a string', `/Things?$filter=${encodeURIComponent('name add 1 eq 2')}`, /needs a number/],
  ['$filter: a collection without a property', `/Things?$filter=${encodeURIComponent('Datastreams eq \'x\'')}`, /Datastreams is a collection; name one of its properties/],
  ['$filter: a collection path to no property', `/Things?$filter=${encodeURIComponent('Datastreams/colour eq \'x\'')}`, /Datastream has no property "colour"/],
  ['$filter: a collection path not compared', `/Things?$filter=${encodeURIComponent('Datastreams/name')}`, /must be compared|must be a condition/],
  ['$filter: a collection path of the wrong type', `/Things?$filter=${encodeURIComponent('Datastreams/name gt 3')}`, /cannot compare a string with a number/],
  ['$filter: a collection path with an empty segment', `/Things?$filter=${encodeURIComponent('Datastreams//name eq \'x\'')}`, /expected a property name after "\/"/],
  ['$filter: a collection path ending in "/"', `/Things?$filter=${encodeURIComponent('Datastreams/ eq \'x\'')}`, /expected a property name after "\/"/],
  ['$filter: a key in a collection path', `/Things?$filter=${encodeURIComponent('Datastreams(1)/name eq \'x\'')}`, /unknown function "Datastreams"/],
  ['$filter: a navigation the entity lacks', `/Things?$filter=${encodeURIComponent('Observations/result gt 1')}`, /Thing has no property "Observations"/],
  ['$filter: a collection path too long', `/Locations?$filter=${encodeURIComponent('Things/Datastreams/Thing/Datastreams/Thing/Datastreams/name eq \'x\'')}`, /longer than 6 segments/],
  ['$filter: arithmetic on a collection path outside a comparison', `/Things?$filter=${encodeURIComponent('Datastreams/Observations/result add 1')}`, /must be compared|must be a condition/],
  ['$orderby: through a collection', '/Things?$orderby=Datastreams/name', /goes through a collection/],
  ['$filter: entity without property', `/Datastreams?$filter=${encodeURIComponent('Thing eq \'x\'')}`, /name one of its properties/],
  ['$filter: bad date-time', `/Things?$filter=${encodeURIComponent('name eq 2026-13-45T99:00:00Z')}`, /not a valid date-time/],
  ['$filter: bad duration', `/Datastreams(1)/Observations?$filter=${encodeURIComponent('phenomenonTime gt now() sub duration\'P1M\'')}`, /not an ISO 8601 duration/],
  ['$filter: bad WKT', `/Locations?$filter=${encodeURIComponent('st_within(location, geography\'CIRCLE(1 2)\')')}`, /not WKT/],
  ['$filter: open polygon', `/Locations?$filter=${encodeURIComponent('st_within(location, geography\'POLYGON((1 1, 2 1, 2 2, 1 2))\')')}`, /end where it starts/],
  ['$filter: geo.distance on a string', `/Locations?$filter=${encodeURIComponent('geo.distance(name, geography\'POINT(1 2)\') lt 1')}`, /must be a location/],
  ['$filter: null with gt', `/Things?$filter=${encodeURIComponent('name gt null')}`, /null can only be compared/],
  ['$filter: nested too deep', `/Things?$filter=${encodeURIComponent(deep(40))}`, /nested deeper/],
  ['$filter: too many terms', `/Datastreams(1)/Observations?$filter=${encodeURIComponent(longOr)}`, /more than 200 terms/],
  ['$filter: too long', `/Things?$filter=${encodeURIComponent(`name eq '${'x'.repeat(5000)}'`)}`, /at most 4000/],
  ['$filter: huge number', `/Things?$filter=${encodeURIComponent(`@iot.id eq 1${'0'.repeat(400)}`)}`, /out of range/],
  ['$filter on all Observations without a bound', `/Observations?$filter=${encodeURIComponent('result gt 1')}`, /must bound phenomenonTime/],
  ['malformed $expand: unclosed', '/Things?$expand=Datastreams($top=1', /never closed/],
  ['malformed $expand: empty item', '/Things?$expand=Datastreams,,Locations', /empty item/],
  ['$expand: unknown navigation', '/Things?$expand=Sensors', /no navigation property "Sensors"/],
  ['$expand: bad option', '/Things?$expand=Datastreams($frob=1)', /Unknown query option "\$frob"/],
  ['$expand: option without value', '/Things?$expand=Datastreams($top)', /is not name=value/],
  ['$expand: too deep', '/Things?$expand=Datastreams/Thing/Datastreams/Thing/Datastreams', /nested deeper than 4/],
  ['$expand: too many items', `/Things?$expand=${encodeURIComponent('Datastreams($expand=Thing,Sensor,ObservedProperty,Observations),Locations($expand=Things($expand=Datastreams,Locations,HistoricalLocations)),HistoricalLocations($expand=Thing,Locations)')}`, /more than 12/],
  ['$expand: $top on a single entity', '/Datastreams?$expand=Thing($top=1)', /single entity/],
  ['$expand: named twice', '/Things?$expand=Locations,Locations', /twice/],
  ['$select: unknown property', '/Things?$select=name,colour', /no property "colour"/],
  ['$select: not a name', `/Things?$select=${encodeURIComponent('name;DROP TABLE devices')}`, /is not a property name/],
  ['$orderby: unknown property', '/Things?$orderby=colour', /no property "colour"/],
  ['$orderby: bad direction', `/Things?$orderby=${encodeURIComponent('name sideways')}`, /unexpected "sideways"/],
  ['$orderby: on an object', '/Things?$orderby=properties', /cannot be ordered/],
  ['$top: negative', '/Things?$top=-1', /non-negative integer/],
  ['$top: not a number', '/Things?$top=ten', /non-negative integer/],
  ['$top: huge', '/Things?$top=99999999999999999999', /non-negative integer/],
  ['$top: too large for 32 bits', '/Things?$top=9999999999', /too large/],
  ['$skip: past maxSkip', '/Things?$skip=100000000', /larger than this service/],
  ['$skip: decimal', '/Things?$skip=1.5', /non-negative integer/],
  ['$count: not a boolean', '/Things?$count=yes', /true or false/],
  ['$resultFormat: unknown', '/Datastreams(1)/Observations?$resultFormat=csv', /must be dataArray/],
  ['$resultFormat on Things', '/Things?$resultFormat=dataArray', /applies to collections of Observations/],
  ['unknown system option', '/Things?$search=x', /Unknown query option "\$search"/],
  ['an option given twice', '/Things?$top=1&$top=2', /given twice/],
  ['malformed percent escape', '/Things?$filter=name%ZZ', /malformed percent escape/],
  ['path: unknown entity set', '/Widgets', /not an entity set/],
  ['path: collection without a key before navigation', '/Things/Datastreams', /needs a key/],
  ['path: malformed key', '/Things(abc)', /neither an integer nor a quoted string/],
  ['path: key on a single entity', '/Datastreams(1)/Thing(\'x\')', /takes no key/],
  ['path: unknown property', '/Things(\'aq-1\')/colour', /no property or navigation "colour"/],
  ['path: $value without a property', '/Things(\'aq-1\')/$value', /\$value follows a property/],
  ['path: $ref after a property', '/Things(\'aq-1\')/name/$ref', /\$ref follows/],
  ['injection: $filter string', `/Things?$filter=${encodeURIComponent("name eq 'x''; DROP TABLE telemetry; --'")}`, /^$/],
  ['injection: $filter property', `/Things?$filter=${encodeURIComponent('name;DROP eq 1')}`, /unexpected character/],
  ['injection: $orderby', `/Things?$orderby=${encodeURIComponent('name; DELETE FROM devices')}`, /unexpected character/],
  ['injection: $expand', `/Things?$expand=${encodeURIComponent('Datastreams);DROP TABLE devices;--')}`, /closes nothing/],
  ['injection: $select', `/Things?$select=${encodeURIComponent("name FROM devices--")}`, /is not a property name/],
  ['injection: $top', `/Things?$top=${encodeURIComponent('1;DROP TABLE devices')}`, /non-negative integer/],
  ['injection: $skip', `/Things?$skip=${encodeURIComponent('0 UNION SELECT credentials_hash FROM devices')}`, /non-negative integer/],
  ['injection: key', `/Things(${encodeURIComponent("'x' OR '1'='1'")})`, /neither an integer nor a quoted string/],
  ['injection: properties path', `/Things?$filter=${encodeURIComponent("properties/x'y eq 1")}`, /no closing quote|unexpected/],
  ['injection: $count', `/Things?$count=${encodeURIComponent('true;SELECT pg_sleep(10)')}`, /true or false/],
]

test.each(CASES)('%s: 400 with a clear message, never a 500', async (_name, path, message) => {
  const res = await fetch(`${sta}${path}`)
  const body = await res.json() as { code: number; type: string; message: string; value?: unknown[] }
  if (message.source === '^$') {
    // A quote inside a string is data: the query runs and finds nothing.
    expect(res.status).toBe(200)
    expect(body.value).toEqual([])
    return
  }
  expect(res.status, JSON.stringify(body)).toBe(400)
  expect(body.code).toBe(400)
  expect(body.type).toBe('error')
  expect(body.message).toMatch(message)
})

test('at least 40 cases, and afterwards every table is intact', async () => {
  expect(CASES.length).toBeGreaterThanOrEqual(40)
  const { rows } = await t.db.pool.query(`SELECT (SELECT count(*) FROM devices)::int AS devices, to_regclass('telemetry') IS NOT NULL AS telemetry`)
  expect(rows[0]).toEqual({ devices: 1, telemetry: true })
})
