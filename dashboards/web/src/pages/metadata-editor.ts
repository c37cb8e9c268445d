import { api, errorMessage } from '../api.ts'
import { h, replace } from '../dom.ts'
import { t } from '../i18n.ts'
import { NO_FILTER } from '../map-model.ts'
import { type MetadataField, fromFields, toFields } from '../metadata-fields.ts'
import { type CityMap, createCityMap } from './map.ts'

/**
 * The device page's metadata as fields, for admins (docs/dashboards.md#editing-a-device):
 * a key and a value per row, rows added and removed, the location typed or picked by a
 * click on the city map; saved in one request that replaces the metadata
 * (POST /api/devices/:id/metadata with `replace`), validated and audited by the service.
 */
export function metadataEditor(deviceId: string, metadata: Record<string, unknown>, done: (saved: boolean) => void): { element: HTMLElement; unmount(): void } {
  const rowsBox = h('div', { class: 'meta-rows' })
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'meta-error', hidden: true })
  const mapBox = h('div', { class: 'meta-map', hidden: true })
  let cityMap: CityMap | undefined

  const addRow = (field: MetadataField): { key: HTMLInputElement; value: HTMLInputElement } => {
    const key = h('input', { class: 'meta-key', 'data-testid': 'meta-key', value: field.key, autocomplete: 'off', spellcheck: 'false', 'aria-label': t('meta.key') }) as HTMLInputElement
    const value = h('input', { class: 'meta-value', 'data-testid': 'meta-value', value: field.value, autocomplete: 'off', spellcheck: 'false', 'aria-label': t('meta.value') }) as HTMLInputElement
    const row = h('div', { class: 'meta-row', 'data-testid': 'meta-row' }, key, value,
      h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'meta-remove', title: t('meta.remove'), onclick: () => row.remove() }, '✕'))
    rowsBox.append(row)
    return { key, value }
  }
  const fields = (): MetadataField[] => [...rowsBox.querySelectorAll<HTMLElement>('.meta-row')].map((row) => ({
    key: row.querySelector<HTMLInputElement>('.meta-key')!.value,
    value: row.querySelector<HTMLInputElement>('.meta-value')!.value,
  }))
  /** The value input of `key`, added as a row when there is none. */
  const valueOf = (key: string): HTMLInputElement => {
    for (const row of rowsBox.querySelectorAll<HTMLElement>('.meta-row')) {
      if (row.querySelector<HTMLInputElement>('.meta-key')!.value.trim() === key) return row.querySelector<HTMLInputElement>('.meta-value')!
    }
    return addRow({ key, value: '' }).value
  }
  const initial = toFields(metadata)
  for (const field of initial) addRow(field)
  if (!initial.some((f) => f.key === 'district')) addRow({ key: 'district', value: '' })

  const pickButton = h('button', { type: 'button', class: 'btn', 'data-testid': 'meta-pick' }, t('meta.pick'))
  pickButton.addEventListener('click', () => {
    if (cityMap) return
    mapBox.hidden = false
    const latitude = valueOf('latitude')
    const longitude = valueOf('longitude')
    const lat = Number(latitude.value)
    const lon = Number(longitude.value)
    const picked: [number, number] | undefined = Number.isFinite(lat) && Number.isFinite(lon) && latitude.value.trim() !== '' ? [lon, lat] : undefined
    cityMap = createCityMap(mapBox, {
      filter: NO_FILTER,
      compact: true,
      pick: {
        ...(picked ? { picked } : {}),
        onPick: (pickedLon, pickedLat) => {
          // About a metre: as far as a map click is precise. valueOf again: the row may have been removed meanwhile.
          valueOf('latitude').value = String(Math.round(pickedLat * 1e5) / 1e5)
          valueOf('longitude').value = String(Math.round(pickedLon * 1e5) / 1e5)
        },
      },
    })
  })
  const save = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'meta-save' }, t('meta.save'))
  save.addEventListener('click', () => {
    const result = fromFields(fields())
    if ('problem' in result) {
      error.textContent = t(result.problem === 'keyMissing' ? 'meta.keyMissing' : 'meta.keyTwice', { key: result.key })
      error.hidden = false
      return
    }
    save.disabled = true
    error.hidden = true
    api(`/api/devices/${encodeURIComponent(deviceId)}/metadata`, { method: 'POST', body: { metadata: result.metadata, replace: true } })
      .then(() => done(true))
      .catch((err: unknown) => {
        error.textContent = t('meta.failed', { message: errorMessage(err) })
        error.hidden = false
      })
      .finally(() => { save.disabled = false })
  })

  const element = h('div', { class: 'meta-editor', 'data-testid': 'meta-editor' },
    h('p', { class: 'muted' }, t('meta.help')),
    rowsBox,
    h('div', { class: 'inline-form' },
      h('button', { type: 'button', class: 'btn', 'data-testid': 'meta-add', onclick: () => addRow({ key: '', value: '' }).key.focus() }, t('meta.add')),
      pickButton,
      save,
      h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'meta-cancel', onclick: () => done(false) }, t('meta.cancel'))),
    error,
    mapBox)
  return {
    element,
    unmount() {
      cityMap?.unmount()
      replace(mapBox)
    },
  }
}
