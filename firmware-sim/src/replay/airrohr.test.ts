import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { airrohrRequest, loadAirrohrArchive } from './airrohr.ts'

// An archive file as madavi.de wrote them (the Nha Be recording's header, ragged rows included).
const dir = mkdtempSync(join(tmpdir(), 'gridline-airrohr-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const HEADER = 'Time;durP1;ratioP1;P1;durP2;ratioP2;P2;SDS_P1;SDS_P2;PMS_P1;PMS_P2;Temp;Humidity;BMP_temperature;BMP_pressure;BME280_temperature;BME280_humidity;BME280_pressure;Samples;Min_cycle;Max_cycle;Signal;HPM_P1;HPM_P2'
writeFileSync(join(dir, 'data-esp8266-12779556-2018-10-09.csv'), [
  HEADER,
  '2018/10/09 00:02:25;;;;;;;65.08;42.03;;;27.70;93.60;;;;;;614518;230;26719;-61',
  '2018/10/09 00:04:54;;;;;;;;;;;;;;;;;;614201;230;26691;-61',
  '2018/10/09 00:07:24;;;;;;;;;;;;;;;;;;;;;',
  '',
].join('\n'))

test('each row becomes the firmware\'s value types with the cells as recorded; a row with a time and nothing else is not sent', () => {
  const archive = loadAirrohrArchive(dir)
  expect(archive).toMatchObject({ chipId: '12779556', emptyRows: 1, files: 1 })
  expect(archive.posts.map((p) => p.line)).toEqual([2, 3])
  expect(archive.posts[0]!.values).toEqual([
    { value_type: 'SDS_P1', value: '65.08' }, { value_type: 'SDS_P2', value: '42.03' },
    { value_type: 'temperature', value: '27.70' }, { value_type: 'humidity', value: '93.60' },
    { value_type: 'samples', value: '614518' }, { value_type: 'min_micro', value: '230' }, { value_type: 'max_micro', value: '26719' }, { value_type: 'signal', value: '-61' },
  ])
})

test('the request carries the firmware\'s body and headers, and no time', () => {
  const { posts, chipId } = loadAirrohrArchive(dir)
  const { body, headers } = airrohrRequest(posts[0]!, chipId, { username: 'aq-1', password: 'pw' })
  const parsed = JSON.parse(body) as Record<string, unknown>
  expect(Object.keys(parsed)).toEqual(['esp8266id', 'software_version', 'sensordatavalues'])
  expect(parsed.esp8266id).toBe('12779556')
  expect(body).not.toContain('2018/10/09')
  expect(headers).toMatchObject({ 'Content-Type': 'application/json', 'X-Sensor': 'esp8266-12779556', Authorization: `Basic ${Buffer.from('aq-1:pw').toString('base64')}` })
  expect(headers['X-MAC-ID']).toMatch(/^esp8266-[0-9a-f]{12}$/)
})

test('files of two stations in one folder are refused, not mixed', () => {
  writeFileSync(join(dir, 'data-esp8266-999-2018-10-10.csv'), `${HEADER}\n2018/10/10 00:00:00;;;;;;;1;2;;;;;;;;;;;;;\n`)
  try {
    expect(() => loadAirrohrArchive(dir)).toThrow(/chip 999/)
    expect(loadAirrohrArchive(dir, { chipId: '12779556' }).posts).toHaveLength(3)
  } finally {
    rmSync(join(dir, 'data-esp8266-999-2018-10-10.csv'))
  }
})
