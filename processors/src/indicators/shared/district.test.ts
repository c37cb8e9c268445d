import { expect, test } from 'vitest'
import { districtKey } from './district.ts'

test.each([
  ['Hải Châu', 'hai chau'],
  ['hai-chau', 'hai chau'],
  ['Hai Chau', 'hai chau'],
  ['  HẢI   CHÂU ', 'hai chau'],
  ['hai_chau', 'hai chau'],
  ['Sơn Trà', 'son tra'],
  ['Đống Đa', 'dong da'],
  ['Quận 1', 'quan 1'],
  // Decomposed input (NFD, as some keyboards and macOS file names give it) is the same district.
  ['Ha\u0309i Cha\u0302u', 'hai chau'],
])('%j is %j', (name, key) => {
  expect(districtKey(name)).toBe(key)
})

test.each([[undefined], [null], [''], ['  -  '], [42], [['Hải Châu']]])('%j is no district', (name) => {
  expect(districtKey(name)).toBeUndefined()
})

test('different districts stay apart', () => {
  expect(districtKey('Hải Châu')).not.toBe(districtKey('Hải An'))
  expect(districtKey('Thanh Khê')).not.toBe(districtKey('Thanh Khe Dong'))
})
