/**
 * Whether an MQTT topic filter matches a topic [MQTT-4.7]: `+` is one level,
 * `#` (last) the parent and every level below; a filter starting with a
 * wildcard does not match topics starting with `$` ($SYS and the like).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!
    if (level === '#') return i === f.length - 1
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}
