import { describe, expect, test } from 'vitest'
import { type FieldValue, isPrecision, parseLineProtocol, timestampToEpochMs } from './line-protocol.ts'

const one = (line: string) => {
  const { points, errors } = parseLineProtocol(line)
  expect(errors).toEqual([])
  expect(points).toHaveLength(1)
  return points[0]!
}

const fields = (line: string): Record<string, FieldValue> => Object.fromEntries(one(line).fields)
const errorOf = (line: string): string => {
  const { points, errors } = parseLineProtocol(line)
  expect(points).toEqual([])
  expect(errors).toHaveLength(1)
  return errors[0]!.message
}

describe('points', () => {
  test('measurement, tags, fields and timestamp', () => {
    const p = one('env,device=aq-1,site=nha\\ be pm25=21.5,pm10=40i 1733400000000000000')
    expect(p.measurement).toBe('env')
    expect([...p.tags]).toEqual([['device', 'aq-1'], ['site', 'nha be']])
    expect(Object.fromEntries(p.fields)).toEqual({ pm25: { type: 'float', value: 21.5 }, pm10: { type: 'integer', value: 40 } })
    expect(p.timestamp).toBe(1733400000000000000n)
    expect(p.line).toBe(1)
  })

  test('no timestamp, trailing blanks and CRLF', () => {
    const { points, errors } = parseLineProtocol('a v=1  \r\nb v=2\r\n')
    expect(errors).toEqual([])
    expect(points.map((p) => [p.measurement, p.timestamp, p.line])).toEqual([['a', null, 1], ['b', null, 2]])
  })

  test('every field type', () => {
    expect(fields('m fl=-1.5e3,i=-7i,u=7u,s="x",t=t,T=TRUE,tr=True,f=false,F=F')).toEqual({
      fl: { type: 'float', value: -1500 },
      i: { type: 'integer', value: -7 },
      u: { type: 'unsigned', value: 7 },
      s: { type: 'string', value: 'x' },
      t: { type: 'boolean', value: true },
      T: { type: 'boolean', value: true },
      tr: { type: 'boolean', value: true },
      f: { type: 'boolean', value: false },
      F: { type: 'boolean', value: false },
    })
  })

  test('escapes: commas, spaces and equals in keys and tag values; quotes and backslashes in strings', () => {
    const p = one('my\\ meas\\,x,ta\\=g=v\\,a\\ l\\=ue fi\\ eld\\=1="say \\"hi\\" \\\\ o, k=1" 1')
    expect(p.measurement).toBe('my meas,x')
    expect([...p.tags]).toEqual([['ta=g', 'v,a l=ue']])
    expect(Object.fromEntries(p.fields)).toEqual({ 'fi eld=1': { type: 'string', value: 'say "hi" \\ o, k=1' } })
  })

  test('a backslash before an ordinary character is kept', () => {
    expect(one('m\\x,t=a\\b v=1').measurement).toBe('m\\x')
    expect(one('m,t=a\\b v=1').tags.get('t')).toBe('a\\b')
  })

  test('a string field may span lines; the next point keeps its own line number', () => {
    const { points, errors } = parseLineProtocol('m s="one\ntwo"\nn v=1')
    expect(errors).toEqual([])
    expect(points[0]!.fields.get('s')).toEqual({ type: 'string', value: 'one\ntwo' })
    expect(points[1]).toMatchObject({ measurement: 'n', line: 3 })
  })

  test('comments and blank lines are skipped', () => {
    const { points, errors } = parseLineProtocol('# header\n\n   \nm v=1\n# tail')
    expect(errors).toEqual([])
    expect(points.map((p) => p.line)).toEqual([4])
  })

  test('integers without a suffix are floats, as in influxd', () => {
    expect(fields('m v=3')).toEqual({ v: { type: 'float', value: 3 } })
    expect(fields('m v=.5')).toEqual({ v: { type: 'float', value: 0.5 } })
  })
})

describe('errors: influxd\'s wording, the line number, and the other lines kept', () => {
  test.each([
    ['m', 'missing fields'],
    ['m ', 'missing fields'],
    [',t=1 v=1', 'missing measurement'],
    ['m,t v=1', 'missing tag value'],
    ['m,t= v=1', 'missing tag value'],
    ['m,t=1,t=2 v=1', 'duplicate tags'],
    ['m v', 'missing field value'],
    ['m v=', 'missing field value'],
    ['m =1', 'missing field key'],
    ['m v=1,v=2', "duplicate field 'v'"],
    ['m v=abc', 'invalid number'],
    ['m v=tru', 'invalid boolean'],
    ['m v=NaN', 'invalid number'],
    ['m v=1e999', 'invalid number'],
    ['m v=1.5i', 'invalid number'],
    ['m v=-1u', 'invalid number'],
    ['m v=9223372036854775808i', 'unable to parse integer 9223372036854775808: value out of range'],
    ['m v=18446744073709551616u', 'unable to parse unsigned 18446744073709551616: value out of range'],
    ['m v="open', 'unbalanced quotes'],
    ['m v=1 12a', 'bad timestamp'],
    ['m v=1 1 2', 'bad timestamp'],
    ['m v=1 99999999999999999999', 'time outside range -9223372036854775806 - 9223372036854775806'],
  ])('%j: %s', (line, reason) => {
    expect(errorOf(line)).toBe(`unable to parse '${line}': ${reason}`)
  })

  test('a bad line among good ones is reported with its number; the good ones are kept', () => {
    const { points, errors } = parseLineProtocol('a v=1\nb v=oops\nc v=3\n')
    expect(points.map((p) => p.measurement)).toEqual(['a', 'c'])
    expect(errors).toEqual([{ line: 2, message: "unable to parse 'b v=oops': invalid number", text: 'b v=oops' }])
  })

  test('a long bad line is cut in the message', () => {
    const line = `m v=${'x'.repeat(500)}`
    const { errors } = parseLineProtocol(line)
    expect(errors[0]!.text).toHaveLength(203)
  })

  test('no input throws', () => {
    const nasty = ['\\', '"', ',', '=', ' ', 'm,\\', 'm v="\\', 'm v=1 -', '\r', '\r\r\n', 'm\\', '\u0000 v=1', 'm v=1\r']
    for (const body of nasty) expect(() => parseLineProtocol(body)).not.toThrow()
    for (let i = 0; i < 2_000; i++) {
      const body = Array.from({ length: 20 }, () => 'm,t=\\ "=1 ,i\n#\r'[Math.floor(Math.random() * 17)]).join('')
      expect(() => parseLineProtocol(body)).not.toThrow()
    }
  })
})

describe('precision', () => {
  test('each precision to epoch milliseconds', () => {
    expect(timestampToEpochMs(1_733_400_000_123_456_789n, 'ns')).toBeCloseTo(1_733_400_000_123.456789, 3)
    expect(timestampToEpochMs(1_733_400_000_123_456n, 'u')).toBeCloseTo(1_733_400_000_123.456, 3)
    expect(timestampToEpochMs(1_733_400_000_123n, 'ms')).toBe(1_733_400_000_123)
    expect(timestampToEpochMs(1_733_400_000n, 's')).toBe(1_733_400_000_000)
    expect(timestampToEpochMs(-1_000n, 's')).toBe(-1_000_000)
  })

  test('only influxd\'s precisions are accepted', () => {
    expect(['n', 'ns', 'u', 'us', 'ms', 's'].every(isPrecision)).toBe(true)
    expect(['m', 'h', '', 'toString', '__proto__'].some(isPrecision)).toBe(false)
  })

  test('the range check uses the precision', () => {
    expect(errorOf('m v=1 9300000000000000000')).toContain('time outside range')
    expect(one('m v=1 9000000000').timestamp).toBe(9_000_000_000n)
    expect(parseLineProtocol('m v=1 10000000000', 's').errors[0]!.message).toContain('time outside range')
  })
})
