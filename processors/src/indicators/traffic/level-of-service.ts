export type LevelOfService = 'A' | 'B' | 'C' | 'D' | 'E' | 'F'

const LETTERS: readonly LevelOfService[] = ['A', 'B', 'C', 'D', 'E']

/**
 * Level of service from travel speed as a share of free-flow speed, after the
 * Highway Capacity Manual 2010 urban street facility table (Exhibit 16-4):
 * A > 85 %, B > 67 %, C > 50 %, D > 40 %, E > 30 %, F otherwise. A detector
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
