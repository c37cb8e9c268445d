import { danangHour } from '../models.ts'
import { seededRandom } from '../random.ts'

/** A fault that can be injected into the station; see docs/plc-simulator.md "Faults". */
export type PumpStationFault = 'pump_trip' | 'tank_overflow' | 'pipe_burst'

/**
 * How far a reported value can be trusted. These are OPC UA StatusCode names
 * [OPC UA Part 4 7.39]; the address space turns them into real StatusCodes.
 */
export type ReadingStatus = 'Good' | 'UncertainLastUsableValue' | 'UncertainEngineeringUnitsExceeded' | 'BadDeviceFailure'

export interface Reading<T extends number | boolean = number | boolean> {
  value: T
  status: ReadingStatus
}

/** Fixed plant characteristics. Numbers are chosen to look like a small city booster station. */
export const STATION_DESIGN = {
  tankAreaM2: 120,
  tankHeightM: 6,
  /** Pump intake sits this far below the tank floor (adds to suction head). */
  suctionElevationM: 0.5,
  /** Shut-off head of one pump at 100 % speed (affinity laws scale it by speed squared). */
  pumpShutoffHeadM: 60,
  /** Pump curve droop: H = H0 * n^2 - k * Q^2, Q in m3/h per pump. */
  pumpCurveK: 6.67e-4,
  /** Static lift to the network. */
  staticHeadM: 25,
  /** Network friction: H = Hs + k * Q^2, Q in m3/h for the whole station. */
  systemCurveK: 2.22e-4,
  ratedSpeedRpm: 1480,
  minSpeedPct: 70,
  /** Speed change per second of simulated time (the drive's ramp). */
  speedRampPctPerS: 25,
  motorVoltageV: 400,
  powerFactor: 0.86,
  pumpEfficiency: 0.72,
  noLoadCurrentA: 8,
  /**
   * Lead/lag control: the drive speed follows the level error (speedGainPctPerM); another
   * pump starts when the level is startBandM above setpoint (the running ones near full
   * speed), one stops when it is stopBandM below (the running ones near minimum speed).
   */
  speedGainPctPerM: 40,
  startBandM: 0.4,
  stopBandM: 0.15,
  /** Minimum simulated time between two staging decisions. */
  stagingDelayS: 60,
  /** Dry-run protection: every pump stops below this level, whatever its command. */
  dryRunLevelM: 0.3,
  tankHighM: 5.2,
  tankLowM: 0.8,
  lowPressureBar: 2.0,
  /** Head loss factor applied while a pipe is burst (the network offers less resistance). */
  burstSystemCurveFactor: 0.25,
  burstStaticHeadM: 8,
  /** Inflow multiplier and extra m3/h while the tank_overflow fault is on. */
  overflowInflowFactor: 2.5,
  overflowInflowExtraM3h: 300,
} as const

const BAR_PER_METRE = 0.0980665
const GRAVITY = 9.80665

export interface PumpSnapshot {
  running: Reading<boolean>
  speedPct: Reading<number>
  currentA: Reading<number>
  runHours: Reading<number>
  command: Reading<boolean>
  auto: Reading<boolean>
}

export interface StationSnapshot {
  /** Simulated clock (drives the day cycle). */
  clockMs: number
  pumps: PumpSnapshot[]
  tankLevelM: Reading<number>
  tankLevelSetpointM: Reading<number>
  inflowM3h: Reading<number>
  outflowM3h: Reading<number>
  dischargePressureBar: Reading<number>
  suctionPressureBar: Reading<number>
  alarms: { pumpTrip: boolean; tankHigh: boolean; tankLow: boolean; lowPressure: boolean }
}

export interface StationModelOptions {
  pumps?: number
  seed?: number
  /** Start of the simulated clock; defaults to now. */
  startTimeMs?: number
  /** Initial tank level setpoint in metres. */
  levelSetpointM?: number
}

interface PumpState {
  running: boolean
  command: boolean
  auto: boolean
  tripped: boolean
  speedPct: number
  currentA: number
  runHours: number
}

/**
 * The pumping station's physics and its level controller, with no OPC UA in it:
 * deterministic from the seed, the start time and the sequence of step sizes.
 */
export class StationModel {
  readonly pumpCount: number
  private readonly random: () => number
  private clockMs: number
  private levelM: number
  private setpointM: number
  private inflowM3h: number
  private inflowWalk = 0
  private outflowM3h = 0
  private headM: number
  private readonly pumps: PumpState[]
  private lastStagingMs = Number.NEGATIVE_INFINITY
  private tankOverflow = false
  private pipeBurst = false
  private current!: StationSnapshot

  constructor(options: StationModelOptions = {}) {
    this.pumpCount = options.pumps ?? 3
    if (!Number.isInteger(this.pumpCount) || this.pumpCount < 1 || this.pumpCount > 9) {
      throw new RangeError(`pumps must be an integer from 1 to 9, got ${options.pumps}.`)
    }
    this.random = seededRandom(options.seed ?? 1)
    this.clockMs = options.startTimeMs ?? Date.now()
    this.setpointM = options.levelSetpointM ?? 3
    this.levelM = this.setpointM
    this.inflowM3h = this.baseInflow()
    this.headM = STATION_DESIGN.staticHeadM
    // Start in a settled state: the lead pump is already running.
    this.pumps = Array.from({ length: this.pumpCount }, (_, i) => ({
      running: i === 0,
      command: i === 0,
      auto: true,
      tripped: false,
      speedPct: i === 0 ? 80 : 0,
      currentA: 0,
      runHours: Math.round(this.random() * 20_000),
    }))
    this.step(0)
  }

  /** Advances the plant by `dtS` simulated seconds. */
  step(dtS: number): void {
    const d = STATION_DESIGN
    this.clockMs += dtS * 1000
    this.updateInflow(dtS)
    this.runController(dtS)

    const running = this.pumps.filter((p) => p.running)
    for (const pump of this.pumps) {
      const target = pump.running ? this.speedTarget() : 0
      const maxStep = d.speedRampPctPerS * dtS
      pump.speedPct += Math.max(-maxStep, Math.min(maxStep, target - pump.speedPct))
      if (!pump.running && dtS === 0) pump.speedPct = 0
      if (pump.running) pump.runHours += dtS / 3600
    }

    const staticHead = this.pipeBurst ? d.burstStaticHeadM : d.staticHeadM
    const systemK = d.systemCurveK * (this.pipeBurst ? d.burstSystemCurveFactor : 1)
    this.outflowM3h = 0
    if (running.length > 0) {
      // Identical pumps in parallel share the flow; the drive runs them at one speed.
      const n = running.reduce((sum, p) => sum + p.speedPct, 0) / running.length / 100
      const drive = d.pumpShutoffHeadM * n * n - staticHead
      if (drive > 0) {
        this.outflowM3h = Math.sqrt(drive / (d.pumpCurveK / running.length ** 2 + systemK))
      }
    }
    this.headM = running.length > 0 ? staticHead + systemK * this.outflowM3h ** 2 : staticHead * 0.8
    const perPumpM3s = running.length > 0 ? this.outflowM3h / running.length / 3600 : 0
    for (const pump of this.pumps) {
      if (!pump.running) {
        pump.currentA = 0
        continue
      }
      const shaftW = (1000 * GRAVITY * perPumpM3s * this.headM) / d.pumpEfficiency
      pump.currentA = d.noLoadCurrentA * (pump.speedPct / 100) + shaftW / (Math.sqrt(3) * d.motorVoltageV * d.powerFactor)
    }

    this.levelM += ((this.inflowM3h - this.outflowM3h) / 3600) * dtS / d.tankAreaM2
    // Above the rim the tank spills; below the floor there is nothing left to pump.
    this.levelM = Math.max(0, Math.min(d.tankHeightM, this.levelM))
    // Built on every step, not on demand, so the noise drawn from the seeded generator
    // does not depend on how often a caller reads.
    this.current = this.buildSnapshot()
  }

  /**
   * Injects a fault (faults add up) or, with null, clears every fault and resets tripped pumps.
   * `pumpIndex` is 1-based (Pump1 is 1) and only used by pump_trip.
   */
  setFault(fault: PumpStationFault | null, pumpIndex = 1): void {
    if (fault === null) {
      for (const pump of this.pumps) pump.tripped = false
      this.tankOverflow = false
      this.pipeBurst = false
    } else if (fault === 'pump_trip') {
      const pump = this.pumps[pumpIndex - 1]
      if (!pump) throw new RangeError(`pumpIndex must be from 1 to ${this.pumpCount}, got ${pumpIndex}.`)
      pump.tripped = true
      pump.running = false
    } else if (fault === 'tank_overflow') {
      this.tankOverflow = true
    } else if (fault === 'pipe_burst') {
      this.pipeBurst = true
    } else {
      throw new RangeError(`Unknown fault ${String(fault)}.`)
    }
    this.step(0)
  }

  /** An operator's start (true) or stop (false); the pump leaves automatic control. */
  commandPump(pumpIndex: number, run: boolean): void {
    const pump = this.pumps[pumpIndex - 1]
    if (!pump) throw new RangeError(`pumpIndex must be from 1 to ${this.pumpCount}, got ${pumpIndex}.`)
    pump.auto = false
    pump.command = run
    this.step(0)
  }

  /** Hands a pump back to the level controller (true) or holds its current command (false). */
  setPumpAuto(pumpIndex: number, auto: boolean): void {
    const pump = this.pumps[pumpIndex - 1]
    if (!pump) throw new RangeError(`pumpIndex must be from 1 to ${this.pumpCount}, got ${pumpIndex}.`)
    pump.auto = auto
    this.step(0)
  }

  setLevelSetpoint(metres: number): void {
    if (!Number.isFinite(metres) || metres < 0.5 || metres > STATION_DESIGN.tankHeightM - 0.5) {
      throw new RangeError(`The tank level setpoint must be from 0.5 to ${STATION_DESIGN.tankHeightM - 0.5} m, got ${metres}.`)
    }
    this.setpointM = metres
  }

  /** The values a PLC would report now, with measurement noise and their trust status. */
  snapshot(): StationSnapshot {
    return this.current
  }

  private buildSnapshot(): StationSnapshot {
    const d = STATION_DESIGN
    const noise = (amplitude: number) => (this.random() - 0.5) * 2 * amplitude
    const good = <T extends number | boolean>(value: T): Reading<T> => ({ value, status: 'Good' })
    const anyRunning = this.pumps.some((p) => p.running)
    const dischargeBar = Math.max(0, this.headM * BAR_PER_METRE + noise(0.02))
    const levelReading = Math.max(0, Math.min(d.tankHeightM, this.levelM + noise(0.005)))
    return {
      clockMs: this.clockMs,
      pumps: this.pumps.map((p) => ({
        running: good(p.running),
        // A tripped drive stops reporting: speed holds its last value, current is unreadable.
        speedPct: p.tripped ? { value: round(p.speedPct, 1), status: 'UncertainLastUsableValue' } : good(round(p.speedPct, 1)),
        currentA: p.tripped
          ? { value: 0, status: 'BadDeviceFailure' }
          : good(p.running ? round(Math.max(0, p.currentA + noise(0.3)), 2) : 0),
        runHours: good(round(p.runHours, 4)),
        command: good(p.command),
        auto: good(p.auto),
      })),
      // The level transmitter tops out at the rim: while spilling it cannot say by how much.
      tankLevelM: {
        value: round(levelReading, 3),
        status: this.levelM >= d.tankHeightM ? 'UncertainEngineeringUnitsExceeded' : 'Good',
      },
      tankLevelSetpointM: good(this.setpointM),
      inflowM3h: good(round(Math.max(0, this.inflowM3h + noise(1.5)), 2)),
      outflowM3h: good(round(Math.max(0, this.outflowM3h + (this.outflowM3h > 0 ? noise(1.5) : 0)), 2)),
      dischargePressureBar: good(round(dischargeBar, 3)),
      suctionPressureBar: good(
        round(Math.max(0, (this.levelM + d.suctionElevationM) * BAR_PER_METRE - 2e-7 * this.outflowM3h ** 2 + noise(0.005)), 3),
      ),
      alarms: {
        pumpTrip: this.pumps.some((p) => p.tripped),
        tankHigh: this.levelM > d.tankHighM,
        tankLow: this.levelM < d.tankLowM,
        lowPressure: anyRunning && this.headM * BAR_PER_METRE < d.lowPressureBar,
      },
    }
  }

  /** Supply from the treatment plant: follows the city's day cycle of demand. */
  private baseInflow(): number {
    const h = danangHour(this.clockMs)
    const bump = (centre: number, width: number) => {
      const dist = Math.min(Math.abs(h - centre), 24 - Math.abs(h - centre))
      return Math.exp(-(dist * dist) / (2 * width * width))
    }
    // Night minimum around 03:00, morning peak 06:30, a midday plateau, evening peak 19:00.
    const demand = 0.25 + 0.75 * Math.max(bump(6.5, 1.5), 0.6 * bump(12.5, 2.5), 0.85 * bump(19, 2))
    return 80 + 200 * demand
  }

  private updateInflow(dtS: number): void {
    if (dtS > 0) {
      // A bounded random walk gives the slow wander of a real flow meter trace.
      this.inflowWalk = Math.max(-15, Math.min(15, this.inflowWalk + (this.random() - 0.5) * 2 * Math.sqrt(dtS)))
    }
    const base = this.baseInflow() + this.inflowWalk
    const d = STATION_DESIGN
    this.inflowM3h = Math.max(0, this.tankOverflow ? base * d.overflowInflowFactor + d.overflowInflowExtraM3h : base)
  }

  private speedTarget(): number {
    const error = this.levelM - this.setpointM
    return Math.max(STATION_DESIGN.minSpeedPct, Math.min(100, 80 + STATION_DESIGN.speedGainPctPerM * error))
  }

  private runController(dtS: number): void {
    const d = STATION_DESIGN
    const error = this.levelM - this.setpointM
    const mayStage = this.clockMs - this.lastStagingMs >= d.stagingDelayS * 1000 && dtS > 0
    const autoPumps = this.pumps.filter((p) => p.auto && !p.tripped)
    // A tripped duty pump is replaced by a standby at once, without waiting for the level to move.
    for (const tripped of this.pumps.filter((p) => p.auto && p.tripped && p.command)) {
      tripped.command = false
      const standby = autoPumps.find((p) => !p.command)
      if (standby) standby.command = true
    }
    if (mayStage && error > d.startBandM) {
      const next = autoPumps.find((p) => !p.command)
      if (next) {
        next.command = true
        this.lastStagingMs = this.clockMs
      }
    } else if (mayStage && error < -d.stopBandM) {
      const last = [...autoPumps].reverse().find((p) => p.command)
      if (last) {
        last.command = false
        this.lastStagingMs = this.clockMs
      }
    }
    const dry = this.levelM < d.dryRunLevelM
    for (const pump of this.pumps) {
      pump.running = pump.command && !pump.tripped && !dry
    }
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
