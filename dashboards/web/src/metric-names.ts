/**
 * Metric names as operators say them, in both console languages (issue 18: "Vietnamese
 * everywhere: metric names"). The catalogue's names (pm25, vehicle_count) stay the data's
 * keys, shown beside the label as its tooltip; a metric not in this table shows its name.
 * Pure module: dashboards/src/web-metric-names.test.ts checks every catalogued metric has both.
 */
import type { Lang } from './i18n.ts'

type Names = Readonly<Record<Lang, string>>

export const METRIC_NAMES: Readonly<Record<string, Names>> = {
  // energy
  energy_import: { en: 'Energy imported', vi: 'Điện năng nhận' },
  energy_export: { en: 'Energy exported', vi: 'Điện năng phát' },
  power: { en: 'Active power', vi: 'Công suất tác dụng' },
  reactive_energy_import: { en: 'Reactive energy', vi: 'Điện năng phản kháng' },
  voltage: { en: 'Voltage', vi: 'Điện áp' },
  current: { en: 'Current', vi: 'Dòng điện' },
  frequency: { en: 'Frequency', vi: 'Tần số' },
  power_factor: { en: 'Power factor', vi: 'Hệ số công suất' },
  // environment
  pm25: { en: 'PM2.5', vi: 'Bụi mịn PM2.5' },
  pm10: { en: 'PM10', vi: 'Bụi PM10' },
  pm1: { en: 'PM1.0', vi: 'Bụi PM1.0' },
  pm4: { en: 'PM4.0', vi: 'Bụi PM4.0' },
  pressure: { en: 'Pressure', vi: 'Áp suất' },
  co2: { en: 'CO₂', vi: 'CO₂' },
  noise_min: { en: 'Noise, lowest', vi: 'Tiếng ồn thấp nhất' },
  noise_max: { en: 'Noise, highest', vi: 'Tiếng ồn cao nhất' },
  no2: { en: 'NO₂', vi: 'NO₂' },
  o3: { en: 'Ozone', vi: 'Ozon (O₃)' },
  so2: { en: 'SO₂', vi: 'SO₂' },
  co: { en: 'CO', vi: 'CO' },
  temperature: { en: 'Temperature', vi: 'Nhiệt độ' },
  humidity: { en: 'Humidity', vi: 'Độ ẩm' },
  noise: { en: 'Noise', vi: 'Tiếng ồn' },
  rainfall: { en: 'Rainfall', vi: 'Lượng mưa' },
  water_level: { en: 'Water level', vi: 'Mực nước' },
  aqi: { en: 'AQI (US)', vi: 'AQI (Hoa Kỳ)' },
  wind_speed: { en: 'Wind speed', vi: 'Tốc độ gió' },
  // lighting
  lamp_on: { en: 'Lamp on', vi: 'Đèn bật' },
  dim_level: { en: 'Dimming level', vi: 'Mức độ sáng' },
  energy: { en: 'Energy meter', vi: 'Chỉ số công tơ' },
  lamp_fault: { en: 'Lamp fault', vi: 'Đèn hỏng' },
  // traffic
  vehicle_count: { en: 'Vehicles counted', vi: 'Số xe đếm được' },
  avg_speed: { en: 'Mean speed', vi: 'Tốc độ trung bình' },
  occupancy: { en: 'Occupancy', vi: 'Độ chiếm dụng' },
  queue_length: { en: 'Queue length', vi: 'Chiều dài hàng đợi' },
  // water
  flow: { en: 'Flow', vi: 'Lưu lượng' },
  level: { en: 'Level', vi: 'Mực nước bể' },
  ph: { en: 'pH', vi: 'Độ pH' },
  turbidity: { en: 'Turbidity', vi: 'Độ đục' },
  chlorine: { en: 'Free chlorine', vi: 'Clo dư' },
  pump_on: { en: 'Pump running', vi: 'Bơm chạy' },
  valve_open: { en: 'Valve open', vi: 'Van mở' },
  pump_speed: { en: 'Pump speed', vi: 'Tốc độ bơm' },
  pump_current: { en: 'Pump current', vi: 'Dòng điện bơm' },
  inflow: { en: 'Inflow', vi: 'Lưu lượng vào' },
  outflow: { en: 'Outflow', vi: 'Lưu lượng ra' },
  discharge_pressure: { en: 'Discharge pressure', vi: 'Áp suất đẩy' },
  suction_pressure: { en: 'Suction pressure', vi: 'Áp suất hút' },
}

/** The metric's name in `lang`, or the metric as it is in the data when the table has none. */
export function metricLabel(metric: string, lang: Lang): string {
  return (Object.hasOwn(METRIC_NAMES, metric) ? METRIC_NAMES[metric]?.[lang] : undefined) ?? metric
}
