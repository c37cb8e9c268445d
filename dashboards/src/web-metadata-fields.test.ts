import { expect, test } from 'vitest'
import { fieldValue, fromFields, toFields } from '../web/src/metadata-fields.ts'

test('metadata to fields and back keeps every value as it was', () => {
  const metadata = { district: 'Hải Châu', latitude: 16.0544, ratedPowerW: 120, dimmable: true, code: '007', tags: ['a', 'b'], extra: { k: 1 } }
  const fields = toFields(metadata)
  expect(fields).toEqual([
    { key: 'district', value: 'Hải Châu' }, { key: 'latitude', value: '16.0544' }, { key: 'ratedPowerW', value: '120' },
    { key: 'dimmable', value: 'true' }, { key: 'code', value: '007' }, { key: 'tags', value: '["a","b"]' }, { key: 'extra', value: '{"k":1}' },
  ])
  expect(fromFields(fields)).toEqual({ metadata })
})

test.each([
  ['16.05', 16.05], ['-3', -3], ['1e3', 1000], ['007', '007'], ['1,5', '1,5'], ['false', false], ['{"a":1}', { a: 1 }], ['{not json}', '{not json}'], ['  Sơn Trà ', 'Sơn Trà'],
])('fieldValue(%j) is %j', (text, value) => {
  expect(fieldValue(text)).toEqual(value)
})

test('empty rows and empty values are left out; a value without a key or a key twice is a problem', () => {
  expect(fromFields([{ key: '', value: '' }, { key: 'district', value: '' }, { key: ' circuit ', value: 'c-1' }])).toEqual({ metadata: { circuit: 'c-1' } })
  expect(fromFields([{ key: '', value: 'orphan' }])).toEqual({ problem: 'keyMissing', key: 'orphan' })
  expect(fromFields([{ key: 'a', value: '1' }, { key: 'a ', value: '2' }])).toEqual({ problem: 'keyTwice', key: 'a' })
})
