import { describe, expect, test } from 'vitest'
import { csvCell } from './aq-report.ts'
import { exportCopySql, exportFilename, parseExportRequest } from './export-query.ts'
import { crlfRecords } from './export-stream.ts'

const RANGE = { from: '2026-11-30T00:00:00+07:00', to: '2026-12-01T00:00:00+07:00' }

async function through(chunks: string[]): Promise<string> {
  const t = crlfRecords()
  const out: Buffer[] = []
  t.on('data', (c: Buffer) => out.push(c))
  for (const c of chunks) t.write(Buffer.from(c))
  t.end()
  await new Promise((r) => t.on('end', r))
  return Buffer.concat(out).toString()
}

describe('CRLF records (RFC 4180 2.1)', () => {
  test('LF between records becomes CRLF; LF inside a quoted field stays, even when the quote state spans chunks', async () => {
    expect(await through(['a,b\n1,"x\ny"\n'])).toBe('a,b\r\n1,"x\ny"\r\n')
    expect(await through(['a,"he said ""hi', '""\n', 'more"\n2,3\n'])).toBe('a,"he said ""hi""\nmore"\r\n2,3\r\n')
    expect(await through(['1,"', '"', '"\n'])).toBe('1,"""\n')
  })
})

describe('export statements', () => {
  test('text values are quoted literals, never SQL; an area is a metadata lookup', () => {
    const sql = exportCopySql(parseExportRequest('readings', { area: "district:O'Brien'); DROP TABLE telemetry; --", ...RANGE }))
    expect(sql).toContain(`metadata->>'district' = 'O''Brien''); DROP TABLE telemetry; --'`)
    expect(sql).toContain(`time >= '2026-11-29T17:00:00.000Z'::timestamptz AND time < '2026-11-30T17:00:00.000Z'::timestamptz`)
    expect(sql).toMatch(/^COPY \(SELECT .* LIMIT 5000000\) TO STDOUT WITH \(FORMAT csv, HEADER true, ENCODING 'UTF8'\)$/)
  })

  test('JSON lines copy each row\'s JSON text as it is', () => {
    const sql = exportCopySql(parseExportRequest('indicators', { name: 'vn_aqi_daily', format: 'jsonl', ...RANGE }))
    expect(sql).toContain(`json_build_object('time', `)
    expect(sql).toContain(`'details', details)`)
    expect(sql).toContain(`QUOTE E'\\x01', DELIMITER E'\\x02'`)
  })

  test('file names are ASCII', () => {
    expect(exportFilename(parseExportRequest('rollups', { area: 'district:Hải Châu', resolution: '1m', ...RANGE }))).toBe('rollups-1m-district-Hai-Chau-20261129-170000-20261130-170000.csv')
    expect(exportFilename(parseExportRequest('indicators', { area: 'circuit:Đường Bạch Đằng', name: 'lamp_failure', format: 'jsonl', ...RANGE }))).toBe('indicators-lamp_failure-circuit-Duong-Bach-Dang-20261129-170000-20261130-170000.jsonl')
  })
})

test.each([
  ['=1+1', "'=1+1"], ['+33', "'+33"], ['-x', "'-x"], ['@SUM(A1)', "'@SUM(A1)"], ['a,b', '"a,b"'], ['say "hi"', '"say ""hi"""'], [-5, '-5'], [null, ''],
])('report cell %j is %s', (v, cell) => {
  expect(csvCell(v as string | number | null)).toBe(cell)
})
