import { randomUUID } from 'node:crypto'
import { type Observable, type SchedulerAction, type SchedulerLike, Subject, type Subscription, asyncScheduler } from 'rxjs'
import { Quality, RowFlags } from '@gridline/schemas'
import { type ErrorCode, GridlineError } from '@gridline/core'
import type { AlarmChange, AlarmSeverity, DeviceInfo, DeviceLookup, IndicatorEvent, Reading } from '../stream/events.ts'
import { ReadingBatch, readingCursor } from '../stream/batch.ts'
import type { AlarmEventDetail, AlarmHistoryEntry, AlarmRecord } from './alarm-event.ts'
import { type AlarmsConfig, type AlarmsConfigInput, parseAlarmsConfig } from './config.ts'
import { ConditionState, Decision, type FlappingPolicy, Level } from './condition.ts'
import { type CompiledRule, compileRule } from './rules.ts'
import { type AlarmLogger, AlarmStore, type AlarmStoreStats, type HistoryFilter, type QueryClient } from './store.ts'
import { type TemplateValues, renderTemplate } from './template.ts'

export interface AlarmEngineDeps {
  /** Where alarm state and history live; without it the engine keeps state in memory only. */
  db?: QueryClient
  /** Domain of a device, for alarms on indicators and for `domains` filters on indicator subjects. */
  lookup?: DeviceLookup
  /** Registered devices, read once at start: stale rules watch them even before their first reading. */
  listDevices?: () => Iterable<DeviceInfo>
  logger?: AlarmLogger
  /** The clock of stale rules and acknowledgements; a TestScheduler in tests. */
  scheduler?: SchedulerLike
}

/** The alarm engine's codes in the one error catalogue (core/src/errors.ts, docs/errors.md). */
export type AlarmErrorCode = Extract<ErrorCode, 'GRIDLINE_ALARM_NOT_FOUND' | 'GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED' | 'GRIDLINE_ALARM_INVALID_ACK' | 'GRIDLINE_ALARM_INVALID' | 'GRIDLINE_ALARM_INVALID_SHELVE' | 'GRIDLINE_ALARM_STATE_CONFLICT'>

/** A refused acknowledgement or custom alarm: a GridlineError whose code is one of the engine's. */
export class AlarmError extends GridlineError {
  declare readonly code: AlarmErrorCode

  constructor(code: AlarmErrorCode, message: string) {
    super(code, message)
    this.name = 'AlarmError'
  }
}

export interface AlarmEngineStats {
  /** Observations evaluated against a rule (one reading may meet several rules). */
  evaluated: number
  /** Observations a rule skipped, by reason. */
  skipped: { backfill: number; quality: number; outOfOrder: number }
  transitions: { raised: number; cleared: number; acknowledged: number; flapping: number; shelved: number; unshelved: number; escalated: number }
  active: number
  store: AlarmStoreStats | undefined
}

interface Context {
  deviceId?: string | undefined
  domain?: string | undefined
  metric?: string | undefined
  levelText?: string | undefined
}

const RECENTLY_CLEARED_MAX = 10_000
/** setTimeout's longest delay; a later deadline is re-armed when the timer fires. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * Evaluates alarm rules (docs/alarms.md) on committed readings and on
 * indicator events. Evaluation is synchronous and in memory: the AlarmEvent
 * is emitted in the same call as the reading that decided it, and the change
 * is queued for the database, written in order in the background.
 *
 * Lifecycle: build, `await start()` (loads active alarms) before the first
 * reading, feed readings and indicators, `await stop()`.
 */
export class AlarmEngine {
  private readonly config: AlarmsConfig
  private readonly rules: CompiledRule[]
  private readonly byMetric = new Map<string, CompiledRule[]>()
  private readonly staleRules: CompiledRule[] = []
  private readonly byIndicator = new Map<string, CompiledRule[]>()
  private readonly flapping: FlappingPolicy
  private readonly scheduler: SchedulerLike
  private readonly store: AlarmStore | undefined
  private readonly subject = new Subject<AlarmEventDetail>()
  /** Active (not cleared) alarms by rule and subject, and by id. */
  private readonly active = new Map<string, AlarmRecord>()
  /** onBatch loads each reading into this; evaluate reads it and keeps nothing of the object. */
  private readonly cursor = readingCursor()
  private readonly byId = new Map<string, AlarmRecord>()
  /** Cleared but unacknowledged alarms, so most acknowledgements need no query. */
  private readonly recentlyCleared = new Map<string, AlarmRecord>()
  private staleTimer: Subscription | undefined
  /** The end of each shelve and each escalation deadline, by alarm id: one timer each, dropped when moot. */
  private readonly shelveTimers = new Map<string, Subscription>()
  private readonly escalationTimers = new Map<string, Subscription>()
  private readonly escalateAfterMs = new Map<string, number>()
  private readonly rulesById = new Map<string, CompiledRule>()
  private readonly counters = {
    evaluated: 0,
    skipped: { backfill: 0, quality: 0, outOfOrder: 0 },
    transitions: { raised: 0, cleared: 0, acknowledged: 0, flapping: 0, shelved: 0, unshelved: 0, escalated: 0 },
  }

  /** Every alarm change, as soon as it is decided. */
  readonly events: Observable<AlarmEventDetail> = this.subject.asObservable()

  constructor(config: AlarmsConfig | AlarmsConfigInput, private readonly deps: AlarmEngineDeps = {}) {
    this.config = parseAlarmsConfig(config)
    this.scheduler = deps.scheduler ?? asyncScheduler
    this.flapping = { maxTransitions: this.config.flapping.maxTransitions, windowMs: this.config.flapping.windowSeconds * 1000 }
    this.store = deps.db ? new AlarmStore(deps.db, { maxQueuedWrites: this.config.maxQueuedWrites, ...(deps.logger ? { logger: deps.logger } : {}) }) : undefined
    this.rules = this.config.enabled ? this.config.rules.map(compileRule) : []
    for (const e of this.config.escalation) this.escalateAfterMs.set(e.severity, e.afterMinutes * 60_000)
    for (const c of this.rules) {
      const rule = c.rule
      this.rulesById.set(rule.id, c)
      if (rule.type === 'stale') this.staleRules.push(c)
      else if (rule.type === 'indicator') push(this.byIndicator, rule.indicator, c)
      else push(this.byMetric, rule.metric, c)
    }
  }

  /** The longest shelve an operator may ask for (config maxShelveMinutes), in minutes. */
  get maxShelveMinutes(): number {
    return this.config.maxShelveMinutes
  }

  /**
   * Loads the active alarms (a restart raises nothing twice), arms their shelve
   * ends and escalation deadlines (one already past fires just after start, so
   * the subscribers who subscribe right after get its event), and starts the
   * stale-data clock. Call once.
   */
  async start(): Promise<void> {
    if (this.store) {
      const rulesById = this.rulesById
      for (const record of await this.store.loadActive()) {
        const c = rulesById.get(record.ruleId)
        if (!c && isCustomRule(record.ruleId)) {
          // Raised by an operator or a flow: no rule to evaluate, it stays until cleared the same way.
          this.active.set(alarmKey(record.ruleId, record.subject), record)
          this.byId.set(record.id, record)
          this.armTimers(record)
          continue
        }
        if (!c) {
          this.retire(record)
          continue
        }
        const state = new ConditionState()
        state.restore(record.flapping)
        c.activeCount++
        c.states.set(record.subject, state)
        this.active.set(alarmKey(record.ruleId, record.subject), record)
        this.byId.set(record.id, record)
        this.armTimers(record)
      }
    }
    if (this.staleRules.length === 0) return
    const now = this.scheduler.now()
    if (this.deps.listDevices) {
      for (const device of this.deps.listDevices()) {
        for (const c of this.staleRules) {
          if (c.matches(device.id, device.domain) && !c.lastHeard.has(device.id)) c.lastHeard.set(device.id, now)
        }
      }
    }
    const periodMs = (this.config.staleCheckIntervalSeconds ?? Math.min(60, Math.max(1, ...this.staleRules.map((c) => c.timeoutMs / 1000 / (c.rule.type === 'stale' ? c.rule.missedIntervals : 1))))) * 1000
    const engine = this
    this.staleTimer = this.scheduler.schedule(function (this: SchedulerAction<undefined>) {
      engine.checkStale()
      this.schedule(undefined, periodMs)
    }, periodMs)
  }

  /** Stops the stale-data clock and waits for pending writes. */
  async stop(): Promise<void> {
    this.staleTimer?.unsubscribe()
    this.staleTimer = undefined
    for (const timer of [...this.shelveTimers.values(), ...this.escalationTimers.values()]) timer.unsubscribe()
    this.shelveTimers.clear()
    this.escalationTimers.clear()
    await this.store?.close()
    this.subject.complete()
  }

  /** Feeds readings (or batches of them) and indicator events from streams. */
  connect(readings: Observable<Reading | readonly Reading[] | ReadingBatch>, indicators?: Observable<IndicatorEvent>): Subscription {
    const subscription = readings.subscribe((r) => {
      if (r instanceof ReadingBatch) this.onBatch(r)
      else if (Array.isArray(r)) this.onReadings(r as readonly Reading[])
      else this.onReading(r as Reading)
    })
    if (indicators) subscription.add(indicators.subscribe((e) => this.onIndicator(e)))
    return subscription
  }

  /** A committed batch, column by column: the rules read each reading through one reused cursor. */
  onBatch(batch: ReadingBatch): void {
    const now = this.batchNow()
    const cursor = this.cursor
    for (let i = 0; i < batch.length; i++) this.evaluate(batch.load(cursor, i), now)
  }

  onReadings(readings: readonly Reading[]): void {
    const now = this.batchNow()
    for (let i = 0; i < readings.length; i++) this.evaluate(readings[i]!, now)
  }

  /** One clock read per batch: stale rules need seconds, not nanoseconds (and none without stale rules). */
  private batchNow(): number {
    return this.staleRules.length > 0 ? this.scheduler.now() : 0
  }

  onReading(r: Reading): void {
    this.evaluate(r, this.batchNow())
  }

  private evaluate(r: Reading, now: number): void {
    const rules = this.byMetric.get(r.metric)
    if (rules !== undefined) {
      for (let i = 0; i < rules.length; i++) this.evaluateReading(rules[i]!, r)
    }
    const stale = this.staleRules
    for (let i = 0; i < stale.length; i++) {
      const c = stale[i]!
      if (c.staleMetric !== undefined && c.staleMetric !== r.metric) continue
      if (!c.matches(r.deviceId, r.domain)) continue
      this.heard(c, r.deviceId, r.domain, now)
    }
  }

  onIndicator(e: IndicatorEvent): void {
    const rules = this.byIndicator.get(e.name)
    if (rules === undefined) return
    const subject = e.scope === 'device' ? e.key : `${e.scope}:${e.key}`
    for (const c of rules) {
      if (!c.matches(e.key, e.scope)) continue
      const state = stateOf(c, subject)
      if (e.time < state.lastTime) {
        this.counters.skipped.outOfOrder++
        continue
      }
      this.counters.evaluated++
      const decision = state.observe(c.level(e.value), e.time, c.timing, this.flapping)
      if (decision === Decision.None) continue
      const deviceId = e.scope === 'device' ? e.key : undefined
      this.apply(c, subject, decision, e.time, e.value, {
        deviceId,
        domain: deviceId === undefined ? undefined : this.deps.lookup?.(deviceId)?.domain,
        metric: e.name,
        levelText: e.level === undefined ? '' : ` (${e.level})`,
      })
    }
  }

  /**
   * Records who acknowledged an alarm (active, or already cleared) and emits
   * the change. Resolves once it is written to the database.
   */
  async acknowledge(alarmId: string, user: string, comment?: string): Promise<AlarmEventDetail> {
    if (typeof user !== 'string' || user.trim() === '' || user.length > 200) {
      throw new AlarmError('GRIDLINE_ALARM_INVALID_ACK', 'An acknowledgement needs the name of who acknowledges (1-200 characters).')
    }
    if (comment !== undefined && (typeof comment !== 'string' || comment.length > 2_000)) {
      throw new AlarmError('GRIDLINE_ALARM_INVALID_ACK', 'An acknowledgement comment is text of at most 2,000 characters.')
    }
    let record = this.byId.get(alarmId) ?? this.recentlyCleared.get(alarmId)
    if (record === undefined && this.store) {
      await this.store.flush()
      record = await this.store.find(alarmId)
    }
    if (record === undefined) throw new AlarmError('GRIDLINE_ALARM_NOT_FOUND', `No alarm has the id ${alarmId}.`)
    if (record.acknowledgedAt !== undefined) {
      throw new AlarmError('GRIDLINE_ALARM_ALREADY_ACKNOWLEDGED', `Alarm ${alarmId} was already acknowledged by ${record.acknowledgedBy}.`)
    }
    const now = this.scheduler.now()
    record.acknowledgedAt = now
    record.acknowledgedBy = user
    if (comment !== undefined) record.comment = comment
    if (record.state !== 'cleared') record.state = 'acknowledged'
    this.recentlyCleared.delete(alarmId)
    this.counters.transitions.acknowledged++
    this.disarm(this.escalationTimers, alarmId)
    const event = this.emit(record, 'acknowledged', now, record.lastValue, record.message, user, comment)
    await this.store?.flush()
    return event
  }

  /**
   * Shelves an active alarm for `durationMs` (at most maxShelveMinutes) with the
   * operator's reason [ISA-18.2 shelving]: it stays in the list, marked, is not
   * escalated and not notified until the shelve ends, when an `unshelved` event
   * follows. Shelving a shelved alarm again replaces its end and reason.
   * Resolves once it is written to the database.
   */
  async shelve(alarmId: string, user: string, reason: string, durationMs: number): Promise<AlarmEventDetail> {
    if (typeof user !== 'string' || user.trim() === '' || user.length > 200) {
      throw new AlarmError('GRIDLINE_ALARM_INVALID_SHELVE', 'Shelving needs the name of who shelves (1-200 characters).')
    }
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 2_000) {
      throw new AlarmError('GRIDLINE_ALARM_INVALID_SHELVE', 'Shelving needs a reason of 1-2,000 characters.')
    }
    const maxMs = this.config.maxShelveMinutes * 60_000
    if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs <= 0 || durationMs > maxMs) {
      throw new AlarmError('GRIDLINE_ALARM_INVALID_SHELVE', `An alarm is shelved for more than 0 and at most ${this.config.maxShelveMinutes} minutes (maxShelveMinutes).`)
    }
    // No await on the way to an open alarm: the change is decided in this call, as acknowledge's is.
    const record = this.byId.get(alarmId) ?? await this.refuseInactive(alarmId, 'shelved')
    const now = this.scheduler.now()
    record.shelvedAt = now
    record.shelvedUntil = now + durationMs
    record.shelvedBy = user
    record.shelveReason = reason
    this.counters.transitions.shelved++
    this.armShelve(record)
    const event = this.emit(record, 'shelved', now, record.lastValue, `Shelved by ${user} until ${new Date(record.shelvedUntil).toISOString()}: ${reason}`, user, reason)
    await this.store?.flush()
    return event
  }

  /** Ends a shelve before its time; the alarm is annunciated (and escalated, when overdue) again. */
  async unshelve(alarmId: string, user: string): Promise<AlarmEventDetail> {
    if (typeof user !== 'string' || user.trim() === '' || user.length > 200) {
      throw new AlarmError('GRIDLINE_ALARM_INVALID_SHELVE', 'Unshelving needs the name of who unshelves (1-200 characters).')
    }
    const record = this.byId.get(alarmId) ?? await this.refuseInactive(alarmId, 'unshelved')
    if (record.shelvedUntil === undefined) throw new AlarmError('GRIDLINE_ALARM_STATE_CONFLICT', `Alarm ${alarmId} is not shelved.`)
    const event = this.endShelve(record, this.scheduler.now(), user)
    await this.store?.flush()
    return event
  }

  /** Why no open alarm has that id: it has cleared (state conflict), or there is none. */
  private async refuseInactive(alarmId: string, what: 'shelved' | 'unshelved'): Promise<never> {
    let cleared = this.recentlyCleared.has(alarmId)
    if (!cleared && this.store) {
      await this.store.flush()
      cleared = (await this.store.find(alarmId)) !== undefined
    }
    if (cleared) throw new AlarmError('GRIDLINE_ALARM_STATE_CONFLICT', `Alarm ${alarmId} has cleared; only an active alarm is ${what}.`)
    throw new AlarmError('GRIDLINE_ALARM_NOT_FOUND', `No alarm has the id ${alarmId}.`)
  }

  private endShelve(record: AlarmRecord, now: number, actor: string | undefined): AlarmEventDetail {
    delete record.shelvedAt
    delete record.shelvedUntil
    delete record.shelvedBy
    delete record.shelveReason
    this.disarm(this.shelveTimers, record.id)
    this.counters.transitions.unshelved++
    const event = this.emit(record, 'unshelved', now, record.lastValue, actor === undefined ? `Shelve expired: ${record.message}` : `Unshelved by ${actor}: ${record.message}`, actor)
    // Overdue while shelved: escalated now (once), not skipped.
    this.armEscalation(record)
    return event
  }

  private armTimers(record: AlarmRecord): void {
    if (record.shelvedUntil !== undefined) this.armShelve(record)
    this.armEscalation(record)
  }

  private armShelve(record: AlarmRecord): void {
    this.disarm(this.shelveTimers, record.id)
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, record.shelvedUntil! - this.scheduler.now()))
    this.shelveTimers.set(record.id, this.scheduler.schedule(() => {
      this.shelveTimers.delete(record.id)
      if (this.byId.get(record.id) !== record || record.shelvedUntil === undefined) return
      if (this.scheduler.now() < record.shelvedUntil) this.armShelve(record)
      else this.endShelve(record, this.scheduler.now(), undefined)
    }, delay))
  }

  /** The escalation delay of an alarm: its rule's escalateAfterMinutes, else its severity's; undefined for none. */
  private escalationDelayMs(record: AlarmRecord): number | undefined {
    const minutes = this.rulesById.get(record.ruleId)?.rule.escalateAfterMinutes
    return minutes !== undefined ? minutes * 60_000 : this.escalateAfterMs.get(record.severity)
  }

  /** Arms the escalation deadline of an open, unacknowledged, not yet escalated alarm (raisedAt + delay, on the engine's clock). */
  private armEscalation(record: AlarmRecord): void {
    this.disarm(this.escalationTimers, record.id)
    if (record.acknowledgedAt !== undefined || record.escalatedAt !== undefined || record.state === 'cleared') return
    const after = this.escalationDelayMs(record)
    if (after === undefined) return
    const due = record.raisedAt + after
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, due - this.scheduler.now()))
    this.escalationTimers.set(record.id, this.scheduler.schedule(() => {
      this.escalationTimers.delete(record.id)
      if (this.byId.get(record.id) !== record || record.acknowledgedAt !== undefined || record.escalatedAt !== undefined) return
      // Not while shelved: the shelve's end arms the deadline again.
      if (record.shelvedUntil !== undefined) return
      const now = this.scheduler.now()
      if (now < due) {
        this.armEscalation(record)
        return
      }
      record.escalatedAt = now
      this.counters.transitions.escalated++
      this.emit(record, 'escalated', now, record.lastValue, `Escalated: not acknowledged ${formatMinutes(now - record.raisedAt)} after it was raised: ${record.message}`)
    }, delay))
  }

  private disarm(timers: Map<string, Subscription>, alarmId: string): void {
    const timer = timers.get(alarmId)
    if (timer === undefined) return
    timer.unsubscribe()
    timers.delete(alarmId)
  }

  /** The alarm's shelve and escalation end with it. */
  private closed(record: AlarmRecord): void {
    this.disarm(this.shelveTimers, record.id)
    this.disarm(this.escalationTimers, record.id)
    delete record.shelvedAt
    delete record.shelvedUntil
    delete record.shelvedBy
    delete record.shelveReason
  }

  /**
   * Raises an alarm no configured rule decides: an operator's, or a Node-RED
   * flow's (`gridline alarm` node). Its rule id is kept as `custom:<ruleId>`.
   * Raising it again while it is active changes nothing and answers the open alarm.
   */
  raiseCustom(input: CustomAlarmInput, actor: string): AlarmEventDetail {
    const ruleId = customRuleId(input.ruleId)
    checkCustom(ruleId, input.subject, actor)
    if (!SEVERITIES.includes(input.severity)) {
      throw new AlarmError('GRIDLINE_ALARM_INVALID', `Severity must be one of ${SEVERITIES.join(', ')}.`)
    }
    const message = typeof input.message === 'string' && input.message.trim() !== '' ? input.message.slice(0, 2_000) : `${ruleId} on ${input.subject}`
    const now = this.scheduler.now()
    const key = alarmKey(ruleId, input.subject)
    const open = this.active.get(key)
    if (open !== undefined) return this.snapshot(open, now)
    const record: AlarmRecord = { id: randomUUID(), ruleId, subject: input.subject, severity: input.severity, state: 'raised', flapping: false, message, raisedAt: now }
    if (input.value !== undefined && Number.isFinite(input.value)) record.raisedValue = record.lastValue = input.value
    if (input.deviceId !== undefined) {
      record.deviceId = input.deviceId
      const domain = this.deps.lookup?.(input.deviceId)?.domain
      if (domain !== undefined) record.domain = domain
    }
    if (input.metric !== undefined) record.metric = input.metric
    this.active.set(key, record)
    this.byId.set(record.id, record)
    this.armEscalation(record)
    this.counters.transitions.raised++
    return this.emit(record, 'raised', now, record.raisedValue, message, actor)
  }

  /** Clears a custom alarm; false when none is active for that rule and subject. */
  clearCustom(input: { ruleId: string; subject: string; message?: string }, actor: string): boolean {
    const ruleId = customRuleId(input.ruleId)
    checkCustom(ruleId, input.subject, actor)
    const key = alarmKey(ruleId, input.subject)
    const record = this.active.get(key)
    if (record === undefined) return false
    const now = this.scheduler.now()
    record.state = 'cleared'
    record.clearedAt = now
    this.active.delete(key)
    this.byId.delete(record.id)
    this.closed(record)
    if (record.acknowledgedAt === undefined) this.recentlyCleared.set(record.id, record)
    this.counters.transitions.cleared++
    this.emit(record, 'cleared', now, undefined, input.message ?? `Cleared by ${actor}: ${record.message}`, actor)
    return true
  }

  private snapshot(record: AlarmRecord, now: number): AlarmEventDetail {
    const event: AlarmEventDetail = { kind: 'alarm', alarmId: record.id, ruleId: record.ruleId, subject: record.subject, severity: record.severity, state: record.state, time: now, message: record.message, active: record.state !== 'cleared', flapping: record.flapping, raisedAt: record.raisedAt }
    if (record.deviceId !== undefined) event.deviceId = record.deviceId
    if (record.domain !== undefined) event.domain = record.domain
    if (record.metric !== undefined) event.metric = record.metric
    if (record.shelvedUntil !== undefined) Object.assign(event, { shelvedUntil: record.shelvedUntil, shelvedBy: record.shelvedBy, shelveReason: record.shelveReason })
    if (record.escalatedAt !== undefined) event.escalatedAt = record.escalatedAt
    return event
  }

  /**
   * The limits of the threshold rules that watch a device (by its id and domain), for the
   * console to draw on the device's charts: rule, metric, severity, the raise limit and
   * which side of it raises, and the clear limit (hysteresis). Empty when alarms are off.
   */
  thresholdsFor(deviceId: string, domain: string | undefined): AlarmThreshold[] {
    const out: AlarmThreshold[] = []
    for (const c of this.rules) {
      const rule = c.rule
      if (rule.type !== 'threshold' || !c.matches(deviceId, domain)) continue
      const above = rule.raiseAbove !== undefined
      const value = above ? rule.raiseAbove! : rule.raiseBelow!
      const clear = above ? rule.clearBelow ?? value : rule.clearAbove ?? value
      out.push({ ruleId: rule.id, metric: rule.metric, severity: rule.severity, direction: above ? 'above' : 'below', value, clearValue: clear })
    }
    return out
  }

  /** Alarms not yet cleared, oldest first. */
  listActive(): AlarmRecord[] {
    return [...this.active.values()].sort((a, b) => a.raisedAt - b.raisedAt).map((r) => ({ ...r }))
  }

  /** Every change of the alarms that match, oldest first (needs the database). */
  async history(filter: HistoryFilter = {}): Promise<AlarmHistoryEntry[]> {
    if (!this.store) throw new Error('Alarm history needs a database: the engine was built without one.')
    await this.store.flush()
    return this.store.history(filter)
  }

  /** Waits until every change decided so far is written. */
  async flush(): Promise<void> {
    await this.store?.flush()
  }

  stats(): AlarmEngineStats {
    return {
      evaluated: this.counters.evaluated,
      skipped: { ...this.counters.skipped },
      transitions: { ...this.counters.transitions },
      active: this.active.size,
      store: this.store?.stats(),
    }
  }

  /** Checks every watched device against its stale rule; run by the scheduler, public for tools. */
  checkStale(): void {
    const now = this.scheduler.now()
    for (const c of this.staleRules) {
      for (const [deviceId, heardAt] of c.lastHeard) {
        if (now - heardAt <= c.timeoutMs) continue
        const state = stateOf(c, deviceId)
        if (state.active) continue
        this.counters.evaluated++
        const decision = state.observe(Level.Raise, now, c.timing, this.flapping)
        if (decision !== Decision.None) {
          this.apply(c, deviceId, decision, now, undefined, { deviceId, domain: this.deps.lookup?.(deviceId)?.domain, metric: c.rule.type === 'stale' ? c.rule.metric : undefined, silentSeconds: (now - heardAt) / 1000 } as Context)
        }
      }
    }
  }

  private heard(c: CompiledRule, deviceId: string, domain: string, now: number): void {
    // Any reading counts, backfilled or flagged: it proves the device (or its gateway) reaches us again.
    c.lastHeard.set(deviceId, now)
    if (c.activeCount === 0) return
    const state = c.states.get(deviceId)
    if (state === undefined || !state.active) return
    this.counters.evaluated++
    const decision = state.observe(Level.Clear, Math.max(now, state.lastTime), c.timing, this.flapping)
    if (decision !== Decision.None) this.apply(c, deviceId, decision, now, undefined, { deviceId, domain, metric: c.rule.type === 'stale' ? c.rule.metric : undefined })
  }

  private evaluateReading(c: CompiledRule, r: Reading): void {
    if (!c.matches(r.deviceId, r.domain)) return
    // A backlog describes the past: it must not raise a live alarm, nor clear one the present may still justify.
    if ((r.flags & RowFlags.BACKFILL) !== 0) {
      this.counters.skipped.backfill++
      return
    }
    if (r.quality !== Quality.GOOD && !(c.rule as { includeNonGood?: boolean }).includeNonGood) {
      this.counters.skipped.quality++
      return
    }
    const state = stateOf(c, r.deviceId)
    if (r.time < state.lastTime) {
      this.counters.skipped.outOfOrder++
      return
    }
    this.counters.evaluated++
    let level: Level
    let value = r.value
    if (c.windowMs > 0) {
      const rate = windowRate(state, r.time, r.value, c.windowMs)
      if (rate === undefined) {
        state.lastTime = r.time
        return
      }
      value = rate * c.perFactor
      level = c.level(value)
    } else {
      level = c.level(r.value)
    }
    const decision = state.observe(level, r.time, c.timing, this.flapping)
    if (decision !== Decision.None) this.apply(c, r.deviceId, decision, r.time, value, { deviceId: r.deviceId, domain: r.domain, metric: r.metric })
  }

  private apply(c: CompiledRule, subject: string, decision: Decision, time: number, value: number | undefined, context: Context): void {
    const key = alarmKey(c.rule.id, subject)
    const values: TemplateValues = { ...c.values, ...context, subject, value, device: context.deviceId, levelText: context.levelText ?? '' }
    if (decision === Decision.Raise) {
      const record: AlarmRecord = {
        id: randomUUID(),
        ruleId: c.rule.id,
        subject,
        severity: c.rule.severity,
        state: 'raised',
        flapping: false,
        message: renderTemplate(c.raiseTemplate, values),
        raisedAt: time,
      }
      if (value !== undefined) record.raisedValue = record.lastValue = value
      if (context.deviceId !== undefined) record.deviceId = context.deviceId
      if (context.domain !== undefined) record.domain = context.domain
      if (context.metric !== undefined) record.metric = context.metric
      this.active.set(key, record)
      this.byId.set(record.id, record)
      this.counters.transitions.raised++
      c.activeCount++
      this.emit(record, 'raised', time, value, record.message)
      this.armEscalation(record)
      return
    }
    const record = this.active.get(key)
    if (record === undefined) return
    if (value !== undefined) record.lastValue = value
    if (decision === Decision.StartFlapping) {
      record.flapping = true
      this.counters.transitions.flapping++
      this.store?.record({ eventId: randomUUID(), alarm: record, transition: 'flapping', time, value, message: `${record.message} (flapping: held raised until stable)` })
      return
    }
    record.state = 'cleared'
    record.clearedAt = time
    this.active.delete(key)
    this.byId.delete(record.id)
    this.closed(record)
    if (record.acknowledgedAt === undefined) {
      this.recentlyCleared.set(record.id, record)
      if (this.recentlyCleared.size > RECENTLY_CLEARED_MAX) this.recentlyCleared.delete(this.recentlyCleared.keys().next().value!)
    }
    this.counters.transitions.cleared++
    c.activeCount--
    this.emit(record, 'cleared', time, value, renderTemplate(c.clearTemplate, values))
    record.flapping = false
  }

  /** An active alarm whose rule is gone from the configuration: cleared, so nothing stays active forever. */
  private retire(record: AlarmRecord): void {
    const now = this.scheduler.now()
    record.state = 'cleared'
    record.clearedAt = now
    this.closed(record)
    this.counters.transitions.cleared++
    this.deps.logger?.warn({ alarmId: record.id, ruleId: record.ruleId }, 'An active alarm belongs to a rule no longer configured; it is cleared.')
    this.emit(record, 'cleared', now, undefined, `Cleared: rule ${record.ruleId} is no longer configured`)
  }

  private emit(record: AlarmRecord, transition: AlarmChange, time: number, value: number | undefined, message: string, actor?: string, comment?: string): AlarmEventDetail {
    this.store?.record({ eventId: randomUUID(), alarm: record, transition, time, value, message, actor, comment })
    const event: AlarmEventDetail = {
      kind: 'alarm',
      alarmId: record.id,
      ruleId: record.ruleId,
      subject: record.subject,
      severity: record.severity,
      state: transition,
      time,
      message,
      active: record.state !== 'cleared',
      flapping: record.flapping,
      raisedAt: record.raisedAt,
    }
    if (value !== undefined) event.value = value
    if (record.acknowledgedBy !== undefined) event.acknowledgedBy = record.acknowledgedBy
    if (record.comment !== undefined) event.comment = record.comment
    if (record.deviceId !== undefined) event.deviceId = record.deviceId
    if (record.domain !== undefined) event.domain = record.domain
    if (record.metric !== undefined) event.metric = record.metric
    if (record.shelvedUntil !== undefined) {
      event.shelvedUntil = record.shelvedUntil
      event.shelvedBy = record.shelvedBy!
      event.shelveReason = record.shelveReason!
    }
    if (record.escalatedAt !== undefined) event.escalatedAt = record.escalatedAt
    this.subject.next(event)
    return event
  }
}

/** A threshold rule's limit as a chart draws it (AlarmEngine.thresholdsFor). */
export interface AlarmThreshold {
  ruleId: string
  metric: string
  severity: AlarmSeverity
  /** Raises above (raiseAbove) or below (raiseBelow) `value`. */
  direction: 'above' | 'below'
  value: number
  /** Clears on the other side of this (clearBelow / clearAbove; `value` without hysteresis). */
  clearValue: number
}

export interface CustomAlarmInput {
  /** Names the alarm's kind; stored as `custom:<ruleId>`. */
  ruleId: string
  /** What the alarm is about: a device id, a district, a road segment. */
  subject: string
  severity: AlarmSeverity
  message: string
  deviceId?: string
  metric?: string
  value?: number
}

const SEVERITIES: readonly AlarmSeverity[] = ['critical', 'major', 'minor', 'warning', 'info']
const CUSTOM_PREFIX = 'custom:'
const isCustomRule = (ruleId: string): boolean => ruleId.startsWith(CUSTOM_PREFIX)
const customRuleId = (ruleId: string): string => (isCustomRule(ruleId) ? ruleId : `${CUSTOM_PREFIX}${ruleId}`)

function checkCustom(ruleId: string, subject: string, actor: string): void {
  if (typeof ruleId !== 'string' || !/^custom:[A-Za-z0-9._-]{1,100}$/.test(ruleId)) {
    throw new AlarmError('GRIDLINE_ALARM_INVALID', 'A custom alarm needs a ruleId of 1-100 letters, digits, ".", "_" or "-".')
  }
  if (typeof subject !== 'string' || subject.trim() === '' || subject.length > 200) {
    throw new AlarmError('GRIDLINE_ALARM_INVALID', 'A custom alarm needs a subject of 1-200 characters.')
  }
  if (typeof actor !== 'string' || actor.trim() === '' || actor.length > 200) {
    throw new AlarmError('GRIDLINE_ALARM_INVALID', 'A custom alarm needs the name of who raises or clears it.')
  }
}

/** The factory the ingest service composes: `processors.alarms` config plus its dependencies. */
export function createAlarmEngine(config: AlarmsConfigInput | undefined, deps: AlarmEngineDeps = {}): AlarmEngine {
  return new AlarmEngine(config ?? {}, deps)
}

function formatMinutes(ms: number): string {
  const minutes = Math.round(ms / 60_000)
  return minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 6) / 10} h`
}

function alarmKey(ruleId: string, subject: string): string {
  return `${ruleId}\u0000${subject}`
}

function stateOf(c: CompiledRule, subject: string): ConditionState {
  let state = c.states.get(subject)
  if (state === undefined) {
    state = new ConditionState()
    c.states.set(subject, state)
  }
  return state
}

/** Change per ms from the oldest reading inside the window to this one; undefined until two readings span time. */
function windowRate(state: ConditionState, time: number, value: number, windowMs: number): number | undefined {
  const times = (state.times ??= [])
  const values = (state.values ??= [])
  times.push(time)
  values.push(value)
  // A moving start index, compacted now and then: splicing the front on every reading is linear in the window.
  let head = state.windowHead
  while (head < times.length - 1 && times[head]! < time - windowMs) head++
  if (head > 64 && head * 2 > times.length) {
    times.splice(0, head)
    values.splice(0, head)
    head = 0
  }
  state.windowHead = head
  const dt = time - times[head]!
  if (dt <= 0) return undefined
  return (value - values[head]!) / dt
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}
