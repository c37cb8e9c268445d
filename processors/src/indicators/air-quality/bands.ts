export interface AqiBand {
  /** Stable key for dashboards and alarm rules. */
  key: string
  /** Label in the publishing authority's language. */
  label: string
  colour: string
  /** RGB as the authority publishes it. */
  rgb: string
}

/** [1459 Bảng 1] bands, names and colours. */
const VN_BANDS: readonly (AqiBand & { max: number })[] = [
  { max: 50, key: 'good', label: 'Tốt', colour: 'green', rgb: '0;228;0' },
  { max: 100, key: 'moderate', label: 'Trung bình', colour: 'yellow', rgb: '255;255;0' },
  { max: 150, key: 'poor', label: 'Kém', colour: 'orange', rgb: '255;126;0' },
  { max: 200, key: 'bad', label: 'Xấu', colour: 'red', rgb: '255;0;0' },
  { max: 300, key: 'very_bad', label: 'Rất xấu', colour: 'purple', rgb: '143;63;151' },
  { max: Infinity, key: 'hazardous', label: 'Nguy hại', colour: 'maroon', rgb: '126;0;35' },
]

/** EPA AQI categories (Technical Assistance Document, 2024). */
const US_BANDS: readonly (AqiBand & { max: number })[] = [
  { max: 50, key: 'good', label: 'Good', colour: 'green', rgb: '0;228;0' },
  { max: 100, key: 'moderate', label: 'Moderate', colour: 'yellow', rgb: '255;255;0' },
  { max: 150, key: 'unhealthy_sensitive', label: 'Unhealthy for Sensitive Groups', colour: 'orange', rgb: '255;126;0' },
  { max: 200, key: 'unhealthy', label: 'Unhealthy', colour: 'red', rgb: '255;0;0' },
  { max: 300, key: 'very_unhealthy', label: 'Very Unhealthy', colour: 'purple', rgb: '143;63;151' },
  { max: Infinity, key: 'hazardous', label: 'Hazardous', colour: 'maroon', rgb: '126;0;35' },
]

function pick(bands: readonly (AqiBand & { max: number })[], aqi: number): AqiBand {
  const b = bands.find((band) => aqi <= band.max) ?? bands[bands.length - 1]!
  return { key: b.key, label: b.label, colour: b.colour, rgb: b.rgb }
}

/** Band of a rounded VN_AQI value. */
export function vnAqiBand(aqi: number): AqiBand {
  return pick(VN_BANDS, aqi)
}

/** Category of a rounded US EPA AQI value. */
export function usAqiBand(aqi: number): AqiBand {
  return pick(US_BANDS, aqi)
}
