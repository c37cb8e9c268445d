/** Values a message template may use, as `{name}`. Unknown names are left as written. */
export type TemplateValues = Record<string, string | number | undefined>

const PLACEHOLDER = /\{([a-zA-Z]+)\}/g

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  return String(Number(value.toPrecision(6)))
}

export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = values[name]
    if (value === undefined) return whole
    return typeof value === 'number' ? formatNumber(value) : value
  })
}
