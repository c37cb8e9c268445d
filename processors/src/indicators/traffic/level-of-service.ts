export type LevelOfService = 'A' | 'B' | 'C' | 'D' | 'E' | 'F'

const LETTERS: readonly LevelOfService[] = ['A', 'B', 'C', 'D', 'E']

/**
 * Urban street LOS by travel speed as % of base free-flow speed: the lower
 * bound (exclusive) of A, B, C, D, E. [HCM 2010 Exhibit 16-4] (facility; the
 * segment table 17-2 is the same) and [HCM 6th ed. Exhibit 18-1] differ only in A.
 */
export const HCM_LOS_THRESHOLDS_PCT = {
  '2010': [85, 67, 50, 40, 30],
  '6th': [80, 67, 50, 40, 30],
} as const satisfies Record<string, readonly number[]>

export type HcmEdition = keyof typeof HCM_LOS_THRESHOLDS_PCT

/** The thresholds in force: explicit ones, else the edition's. */
export function losThresholds(config: { hcmEdition: HcmEdition; losThresholdsPct?: readonly number[] | undefined }): readonly number[] {
  return config.losThresholdsPct ?? HCM_LOS_THRESHOLDS_PCT[config.hcmEdition]
}

/**
 * Level of service from travel speed as a share of free-flow speed, after the
 * Highway Capacity Manual urban street tables (see HCM_LOS_THRESHOLDS_PCT;
 * 2010: A > 85 %, B > 67 %, C > 50 %, D > 40 %, E > 30 %, F otherwise). A detector
 * occupancy at or above `occupancyJamPct` forces F (a queue stands over it).
 */
export function levelOfService(speedPct: number, thresholdsPct: readonly number[], occupancyPct?: number, occupancyJamPct = 100): LevelOfService {
  if (occupancyPct !== undefined && occupancyPct >= occupancyJamPct) return 'F'
  for (let i = 0; i < LETTERS.length; i++) if (speedPct > thresholdsPct[i]!) return LETTERS[i]!
  return 'F'
}

/** 0 at free flow, 1 at standstill: 1 - speed / free-flow speed, clamped. */
export function congestionIndex(speedKmh: number, freeFlowKmh: number): number {
  return Math.min(1, Math.max(0, 1 - speedKmh / freeFlowKmh))
}
