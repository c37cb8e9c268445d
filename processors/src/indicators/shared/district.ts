/**
 * A district name as a comparison key: lower case, without diacritics (đ is
 * d), words joined by single spaces, so "Hải Châu", "hai-chau", "Hai Chau"
 * and " HẢI  CHÂU " are one district. Device metadata is typed by hand, by
 * several people and tools, and the registry keeps it as given: two devices in
 * one district need not spell it alike. Undefined for a missing, non-string
 * or empty name.
 */
export function districtKey(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined
  const key = name.replace(/[đĐ]/g, 'd').normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ').trim()
  return key.length > 0 ? key : undefined
}
