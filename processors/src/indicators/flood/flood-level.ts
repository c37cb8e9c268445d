export type FloodLevelName = 'normal' | 'alert_1' | 'alert_2' | 'alert_3' | 'unknown'

/**
 * Level name from three ascending thresholds: at or above the first is alert 1
 * (báo động I), the second alert 2, the third alert 3. Vietnam's river warning
 * levels are set per station by the hydro-meteorological service.
 */
export function floodLevelName(levelM: number, alertLevelsM: readonly [number, number, number] | undefined): FloodLevelName {
  if (alertLevelsM === undefined) return 'unknown'
  if (levelM >= alertLevelsM[2]) return 'alert_3'
  if (levelM >= alertLevelsM[1]) return 'alert_2'
  if (levelM >= alertLevelsM[0]) return 'alert_1'
  return 'normal'
}

/** Reads `alertLevelsM` from device metadata when it is three ascending numbers. */
export function alertLevelsFromMetadata(value: unknown): [number, number, number] | undefined {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) return undefined
  const [a, b, c] = value as [number, number, number]
  return a <= b && b <= c ? [a, b, c] : undefined
}
