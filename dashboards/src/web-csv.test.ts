import { describe, expect, test } from 'vitest'
import { csvField, devicesFromCsv, parseCsv } from '../web/src/csv.ts'

describe('parseCsv', () => {
  test('RFC 4180: quotes, doubled quotes, separators and line breaks inside quotes, CRLF, a byte order mark, blank lines', () => {
    const text = '\uFEFFid,note\r\naq-1,"Hải Châu, ""cổng"" chợ"\r\n\r\naq-2,"two\nlines"\naq-3,plain'
    expect(parseCsv(text)).toEqual({
      rows: [['id', 'note'], ['aq-1', 'Hải Châu, "cổng" chợ'], ['aq-2', 'two\nlines'], ['aq-3', 'plain']],
      lines: [1, 2, 4, 6],
    })
  })

  test('semicolons when the header has more of them (a spreadsheet saved in a Vietnamese locale)', () => {
    expect(parseCsv('id;domain;latitude\naq-1;environment;16,05').rows).toEqual([['id', 'domain', 'latitude'], ['aq-1', 'environment', '16,05']])
  })
})

describe('devicesFromCsv', () => {
  test('id and domain, the other columns as metadata: numbers as numbers, empty cells left out; bad rows listed by line, the rest kept', () => {
    const text = [
      'id,domain,latitude,longitude,district,ratedPowerW,code',
      'lamp-1,lighting,16.0544,108.2022,Hải Châu,120,007',
      'aq-1,environment,16.06,108.21,"Sơn Trà",,',
      ',water,16,108,,,',
      'wm-1,,16,108,,,',
      'lamp-1,lighting,,,,,',
      'x,y,1,2,3,4,5,6',
    ].join('\n')
    const { devices, problems } = devicesFromCsv(text)
    expect(devices).toEqual([
      { line: 2, id: 'lamp-1', domain: 'lighting', metadata: { latitude: 16.0544, longitude: 108.2022, district: 'Hải Châu', ratedPowerW: 120, code: '007' } },
      { line: 3, id: 'aq-1', domain: 'environment', metadata: { latitude: 16.06, longitude: 108.21, district: 'Sơn Trà' } },
    ])
    expect(problems).toEqual([
      { line: 4, message: 'no id' },
      { line: 5, message: 'wm-1: no domain' },
      { line: 6, message: 'lamp-1: already on an earlier line' },
      { line: 7, message: '8 cells for 7 columns (a separator inside a value needs quotes)' },
    ])
  })

  test.each([
    ['latitude,longitude\n16,108', /"id" and "domain"/],
    ['', /"id" and "domain"/],
    ['id,domain,district,district\naq-1,environment,a,b', /"district" is named twice/],
  ])('a header without id and domain, or naming a column twice, imports nothing: %j', (text, message) => {
    const { devices, problems } = devicesFromCsv(text)
    expect(devices).toEqual([])
    expect(problems[0]!.message).toMatch(message)
  })
})

test('csvField quotes what must be quoted', () => {
  expect(['aq-1', 'a,b', 'say "hi"', 'two\nlines', ' x', 'a;b'].map(csvField)).toEqual(['aq-1', '"a,b"', '"say ""hi"""', '"two\nlines"', '" x"', '"a;b"'])
})
