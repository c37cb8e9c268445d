import { describe, expect, test } from 'vitest'
import { Params, filterSql, newContext, orderSql } from './compile.ts'
import { SETS } from './model.ts'
import { StaQueryError, parseExpand, parseFilter, parseOrderBy, parseOptions, splitQueryString } from './odata.ts'

describe('$filter parser', () => {
  test('precedence: not > mul > add > comparison > and > or [OData 4.0 Part 2 5.1.1.9]', () => {
    expect(parseFilter('a add 2 mul 3 gt 4 and not b or c eq 1')).toEqual({
      k: 'bin', op: 'or',
      left: {
        k: 'bin', op: 'and',
        left: { k: 'bin', op: 'gt', left: { k: 'bin', op: 'add', left: { k: 'prop', path: ['a'] }, right: { k: 'bin', op: 'mul', left: { k: 'lit', lit: { k: 'number', value: 2 } }, right: { k: 'lit', lit: { k: 'number', value: 3 } } } }, right: { k: 'lit', lit: { k: 'number', value: 4 } } },
        right: { k: 'not', e: { k: 'prop', path: ['b'] } },
      },
      right: { k: 'bin', op: 'eq', left: { k: 'prop', path: ['c'] }, right: { k: 'lit', lit: { k: 'number', value: 1 } } },
    })
  })

  test.each([
    ["name eq 'it''s'", { k: 'string', value: "it's" }],
    ['x eq 2026-12-01T00:00:00+07:00', { k: 'time', value: Date.parse('2026-11-30T17:00:00Z'), text: '2026-12-01T00:00:00+07:00' }],
    ['x eq -1.5e2', { k: 'number', value: -150 }],
    ["x eq duration'P1DT2H'", { k: 'duration', ms: 26 * 3_600_000 }],
    ["x eq geography'POINT(108.2 16.05)'", { k: 'geo', shape: { type: 'Point', coordinates: [108.2, 16.05] } }],
  ])('literal in %s', (text, lit) => {
    expect((parseFilter(text) as any).right).toEqual({ k: 'lit', lit })
  })

  test('paths and functions', () => {
    expect(parseFilter('Datastream/Thing/@iot.id eq 1')).toMatchObject({ left: { k: 'prop', path: ['Datastream', 'Thing', '@iot.id'] } })
    expect(parseFilter("geo.distance(location, geography'POINT(1 2)') lt 3")).toMatchObject({ left: { k: 'call', name: 'geo.distance' } })
    expect(parseFilter('result sub -3 gt 0')).toMatchObject({ left: { k: 'bin', op: 'sub', right: { k: 'lit', lit: { k: 'number', value: -3 } } } })
  })

  test.each(['a eq', '(a eq 1', 'a eq 1)', "a eq 'x", 'a lt 1 lt 2', 'foo(a) eq 1', 'a eq "x"', ''])('%j is refused with a StaQueryError', (text) => {
    expect(() => parseFilter(text)).toThrow(StaQueryError)
  })
})

describe('other options', () => {
  test('$orderby keys and directions', () => {
    expect(parseOrderBy('phenomenonTime desc, result').map((o) => o.desc)).toEqual([true, false])
  })

  test('$expand: nested options, and Thing/Locations as Thing($expand=Locations)', () => {
    const items = parseExpand('Datastreams($top=1;$expand=Observations($filter=result gt 1;$top=2)),Thing/Locations')
    expect(items[0]).toMatchObject({ nav: 'Datastreams', options: { top: 1, expand: [{ nav: 'Observations', options: { top: 2 } }] } })
    expect(items[1]).toMatchObject({ nav: 'Thing', options: { expand: [{ nav: 'Locations', options: {} }] } })
  })

  test('the query string: decoded once, non-$ keys ignored, repeats refused', () => {
    expect([...splitQueryString('$top=5&api_key=x&$filter=name%20eq%20%27a%27')]).toEqual([['$top', '5'], ['$filter', "name eq 'a'"]])
    expect(() => splitQueryString('$top=1&$top=2')).toThrow(/twice/)
    expect(() => parseOptions(new Map([['$top', '1e3']]))).toThrow(/non-negative integer/)
  })
})

describe('paths through collections', () => {
  const sqlOf = (set: string, filter: string) => {
    const params = new Params()
    const sql = filterSql(newContext(params, 1_000), SETS[set]!, 'e', parseFilter(filter))
    return { sql, values: params.values }
  }

  test('parse as property paths, segment by segment', () => {
    expect(parseFilter("Things/Datastreams/ObservedProperty/name eq 'pm25'")).toMatchObject({ left: { k: 'prop', path: ['Things', 'Datastreams', 'ObservedProperty', 'name'] } })
    expect(() => parseFilter('Datastreams//name eq 1')).toThrow(/expected a property name after "\/"/)
  })

  test.each([
    ['Things', "Datastreams/name eq 'x'", ['sta_datastream']],
    ['Locations', "Things/Datastreams/ObservedProperty/name eq 'pm25'", ['sta_thing', 'sta_datastream', 'sta_observed_property']],
    ['Datastreams', 'Observations/result gt 5', ['FROM (SELECT * FROM sta_datastream ORDER BY id) s CROSS JOIN LATERAL']],
  ])('%s?$filter=%s is one EXISTS over the related views, the literal a parameter', (set, filter, views) => {
    const { sql, values } = sqlOf(set, filter)
    expect(sql.match(/EXISTS \(SELECT 1 FROM/g)).toHaveLength(1)
    for (const v of views) expect(sql).toContain(v)
    expect(values).toHaveLength(1)
    expect(sql).not.toMatch(/'x'|'pm25'| 5\b/)
  })

  test('each comparison is its own EXISTS; both sides of one comparison share the related entity', () => {
    expect(sqlOf('Things', "Datastreams/name eq 'a' and Datastreams/name eq 'b'").sql.match(/EXISTS/g)).toHaveLength(2)
    const same = sqlOf('Things', 'Datastreams/name eq Datastreams/description').sql
    expect(same.match(/FROM sta_datastream/g)).toHaveLength(1)
    expect(sqlOf('Things', "not (Datastreams/name eq 'a')").sql).toMatch(/^\(NOT EXISTS/)
  })

  test('refused outside a comparison and in $orderby', () => {
    expect(() => sqlOf('Things', 'Datastreams/name')).toThrow(/must be compared/)
    const params = new Params()
    expect(() => orderSql(newContext(params, 1_000), SETS.Things!, 'e', parseOrderBy('Datastreams/name'))).toThrow(/goes through a collection/)
  })
})

describe('$expand keeps each item\'s options as written (for its @iot.nextLink)', () => {
  test('options, and a shortcut path\'s inner options on the outer item', () => {
    const [ds, thing] = parseExpand('Observations($top=2;$filter=result gt 1;$orderby=phenomenonTime desc),Thing/Locations($select=name)')
    expect([...ds!.text]).toEqual([['$top', '2'], ['$filter', 'result gt 1'], ['$orderby', 'phenomenonTime desc']])
    expect([...thing!.text]).toEqual([['$expand', 'Locations($select=name)']])
    const [merged] = parseExpand('Datastreams/Thing,Datastreams/Sensor')
    expect(merged!.text.get('$expand')).toBe('Thing,Sensor')
  })
})
