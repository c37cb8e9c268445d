/**
 * Sound and browser notifications for new critical and major alarms (docs/dashboards.md#alarm-sound).
 * Switched per user and browser: the choice is kept in localStorage (the console's users have no
 * settings on the server), off until the user switches it on; that click is the gesture browsers
 * ask for before a page may play sound or request notification permission.
 *
 * Each announcement counts on `window.__alarmSound` and on `<html data-alarm-sound>`, so a test (or
 * a wall screen's watchdog) can see it happen without hearing it.
 */
import type { LiveEvent } from './live.ts'

const KEY = 'gridline.alarmSound'
const LOUD = new Set(['critical', 'major'])

declare global {
  interface Window {
    __alarmSound?: number
  }
}

export class AlarmSound {
  private enabled: boolean
  private audio: AudioContext | undefined
  private readonly listeners = new Set<(enabled: boolean) => void>()

  constructor(private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | undefined = safeStorage()) {
    this.enabled = readStored(this.storage) === 'on'
  }

  get on(): boolean {
    return this.enabled
  }

  onChange(listener: (enabled: boolean) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Called from a click: stores the choice, unlocks audio and asks for notification permission once. */
  set(enabled: boolean): void {
    this.enabled = enabled
    try {
      this.storage?.setItem(KEY, enabled ? 'on' : 'off')
    } catch {
      // Not persisted (private mode); the choice holds for this page load.
    }
    if (enabled) {
      this.context()?.resume().catch(() => undefined)
      if (typeof Notification !== 'undefined' && Notification.permission === 'default') void Notification.requestPermission().catch(() => undefined)
    }
    for (const l of this.listeners) l(enabled)
  }

  /** A live event: a new critical or major alarm is announced when switched on. */
  offer(event: LiveEvent): void {
    if (!this.enabled || !shouldAnnounce(event)) return
    const count = (window.__alarmSound ?? 0) + 1
    window.__alarmSound = count
    document.documentElement.dataset['alarmSound'] = String(count)
    this.tone(event['severity'] === 'critical')
    this.notify(event)
  }

  private context(): AudioContext | undefined {
    if (this.audio) return this.audio
    const Ctor = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext
    if (!Ctor) return undefined
    try {
      this.audio = new Ctor()
    } catch {
      return undefined
    }
    return this.audio
  }

  /** Two short beeps (critical higher); WebAudio, no file to load. */
  private tone(critical: boolean): void {
    const ctx = this.context()
    if (!ctx) return
    try {
      const start = ctx.currentTime + 0.01
      for (const offset of [0, 0.25]) {
        const osc = ctx.createOscillator()
        const gain = ctx.createGain()
        osc.type = 'square'
        osc.frequency.value = critical ? 880 : 660
        gain.gain.setValueAtTime(0.08, start + offset)
        gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18)
        osc.connect(gain).connect(ctx.destination)
        osc.start(start + offset)
        osc.stop(start + offset + 0.2)
      }
    } catch {
      // A browser without the node types: the counter and the notification still tell.
    }
  }

  private notify(event: LiveEvent): void {
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return
    try {
      const n = new Notification(`${String(event['severity']).toUpperCase()}: ${String(event['subject'] ?? '')}`, {
        body: String(event['message'] ?? ''),
        tag: String(event['alarmId'] ?? ''),
      })
      n.onclick = () => {
        window.focus()
        location.hash = '#/alarms'
      }
    } catch {
      // Some browsers only allow notifications from a service worker; the sound still plays.
    }
  }
}

/** A new alarm of severity critical or major (raised; not its later changes). */
export function shouldAnnounce(event: LiveEvent): boolean {
  return event.kind === 'alarm' && event['state'] === 'raised' && LOUD.has(String(event['severity']))
}

function safeStorage(): Storage | undefined {
  try {
    return localStorage
  } catch {
    return undefined
  }
}

function readStored(storage: Pick<Storage, 'getItem'> | undefined): string | null {
  try {
    return storage?.getItem(KEY) ?? null
  } catch {
    return null
  }
}
