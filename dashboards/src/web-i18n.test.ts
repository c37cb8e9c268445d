import { describe, expect, test } from 'vitest'
import { dictionaries, LANGS, pickLang, t } from '../web/src/i18n.ts'

describe('web app dictionaries', () => {
  const en = dictionaries.en as Record<string, string>
  const vi = dictionaries.vi as Record<string, string>

  test('vi and en have exactly the same keys', () => {
    expect(Object.keys(vi).sort()).toEqual(Object.keys(en).sort())
  })

  test.each(LANGS)('%s has no empty or untrimmed strings', (lang) => {
    for (const [key, text] of Object.entries(dictionaries[lang] as Record<string, string>)) {
      expect(text.trim(), `${lang}:${key}`).not.toBe('')
      expect(text, `${lang}:${key}`).toBe(text.trim())
    }
  })

  test('each key has the same placeholders in both languages', () => {
    const placeholders = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort()
    for (const key of Object.keys(en)) expect(placeholders(vi[key] ?? ''), key).toEqual(placeholders(en[key] ?? ''))
  })

  test('Vietnamese uses the agreed terms, with diacritics', () => {
    expect(t('nav.overview', undefined, 'vi')).toBe('Tổng quan')
    expect(t('nav.devices', undefined, 'vi')).toBe('Thiết bị')
    expect(t('nav.alarms', undefined, 'vi')).toBe('Cảnh báo')
    expect(t('login.submit', undefined, 'vi')).toBe('Đăng nhập')
    expect(t('overview.air', undefined, 'vi')).toContain('Chất lượng không khí')
    expect(['good', 'moderate', 'poor', 'bad', 'very_bad', 'hazardous'].map((l) => vi[`aqi.${l}`]))
      .toEqual(['Tốt', 'Trung bình', 'Kém', 'Xấu', 'Rất xấu', 'Nguy hại'])
  })

  test('t fills placeholders and leaves unknown ones visible', () => {
    expect(t('devices.page', { from: 1, to: 100, total: 250 }, 'en')).toBe('1–100 of 250')
    expect(t('devices.page', { from: 1 }, 'en')).toBe('1–{to} of {total}')
  })

  test.each([
    [null, 'vi-VN', 'vi'],
    [null, 'vi', 'vi'],
    [null, 'en-US', 'en'],
    [null, 'fr-FR', 'en'],
    [null, undefined, 'en'],
    ['en', 'vi-VN', 'en'],
    ['vi', 'en-GB', 'vi'],
    ['de', 'vi-VN', 'vi'],
  ])('pickLang(stored=%s, browser=%s) is %s', (stored, browser, expected) => {
    expect(pickLang(stored, browser)).toBe(expected)
  })
})
