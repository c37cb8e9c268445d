/**
 * The self-contained HTML page of a run: the summary table, throughput over
 * time for every scenario and the ack-latency histograms, drawn as inline
 * SVG (no script, no stylesheet or font from elsewhere: it opens offline).
 */
import type { RunRecord, SummaryRow } from './report.ts'
import type { RoundResult } from './results.ts'
import { type Histogram, type RatePoint, ratesFromCumulative } from './series.ts'

interface Series {
  name: string
  points: { x: number; y: number }[]
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
const W = 720
const H = 280
const PAD = { left: 70, right: 16, top: 28, bottom: 40 }

export function htmlReport(record: RunRecord, markdownPath: string): string {
  const charts: string[] = []
  for (const [title, unit, pick] of THROUGHPUT_CHARTS) {
    const series = record.results.flatMap((r) => pick(r).map((s) => ({ ...s, name: record.results.length > 1 ? `${s.name}, round ${r.round}` : s.name })))
    if (series.some((s) => s.points.length > 0)) charts.push(lineChart(title, series, 'seconds', unit))
  }
  for (const [title, pick] of LATENCY_CHARTS) {
    const histograms = record.results.flatMap((r) => {
      const h = pick(r)
      return h ? [{ name: `round ${r.round}`, histogram: h }] : []
    })
    if (histograms.length > 0) charts.push(histogramChart(title, histograms))
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridline bench ${esc(record.startedAt)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.fail { color: #b00; font-weight: bold; } .pass { color: #070; } .note { color: #a60; }
figure { margin: 1.5em 0; } svg text { font: 11px system-ui, sans-serif; }
</style></head><body>
<h1>gridline bench, ${esc(record.startedAt)}</h1>
<p>Command: <code>${esc(record.command)}</code>, ${record.rounds} round(s)${record.quick ? ' (--quick: a smoke run, not a measurement)' : ''}, ${Math.round(record.durationSeconds)} s.
Scenarios: ${esc(record.scenarios.join(', '))}. Machine: ${record.machine.cpus.length} x ${esc(record.machine.cpus[0]?.model ?? 'unknown CPU')}, Node ${esc(record.machine.node)}, ${esc(record.machine.postgres.split(' on ')[0] ?? '')}.
The tables in full, the per-phase figures and the findings are in <code>${esc(markdownPath)}</code>; every raw number is in the .json beside it.</p>
${summaryTable(record.summary)}
<h2>Findings</h2>
${record.findings.length > 0 ? `<ul>${record.findings.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : '<p>None.</p>'}
<h2>Throughput over time</h2>
${charts.join('\n')}
</body></html>
`
}

type Pick = (r: RoundResult) => Series[]
const rate = (name: string, points: RatePoint[] | undefined): Series[] => (points ? [{ name, points: points.map((p) => ({ x: p.atSeconds, y: p.perSecond })) }] : [])

const THROUGHPUT_CHARTS: [string, string, Pick][] = [
  ['writer and pipeline (in one process)', 'rows/s', (r) => [...rate('writer', r.writer?.timeline), ...rate('pipeline', r.pipeline?.timeline), ...rate('pipeline-processors', r.pipelineProcessors?.timeline)]],
  ['broker, QoS 1', 'msg/s', (r) => [...rate('aedes', r.broker?.qos1.aedes.timeline), ...rate('mosquitto', r.broker?.qos1.mosquitto.timeline), ...rate('do-nothing sink', r.broker?.qos1.sink.timeline)]],
  ['broker, QoS 0', 'msg/s', (r) => [...rate('aedes', r.broker?.qos0.aedes.timeline), ...rate('mosquitto', r.broker?.qos0.mosquitto.timeline), ...rate('do-nothing sink', r.broker?.qos0.sink.timeline)]],
  ['ingest-batched', 'readings/s', (r) => [...rate('gridline', r.ingestBatched?.timeline), ...rate('do-nothing sink', r.batchedSink?.timeline)]],
  ['ingest-single and ack-latency (warm-up included)', 'msg/s', (r) => [...rate('ingest-single', r.ingestSingle?.timeline), ...rate('do-nothing sink', r.singleSink?.timeline), ...rate('ack-latency (paced)', r.ackLatency?.timeline)]],
  ['alarm-latency: background load (warm-up included)', 'msg/s', (r) => rate('background', r.alarmLatency?.background.timeline)],
  ['peers: rows stored', 'rows/s', (r) => [...rate('naive subscriber', r.peers?.naive.timeline), ...rate('Node-RED', r.peers?.nodeRed.timeline)]],
  ['sparkplug: readings acknowledged', 'readings/s', (r) => [...rate('Sparkplug B', r.sparkplug?.sparkplug.timeline), ...rate('JSON', r.sparkplug?.json.timeline)]],
  ['mqtt-client: rows stored (warm-up included)', 'rows/s', (r) => [...rate('gridline mqtt_client', r.mqttClient?.gridline.timeline), ...rate('naive subscriber', r.mqttClient?.naive.timeline)]],
  ['overload: PUBACKs', 'msg/s', (r) => (r.overload?.levels ?? []).map((l) => {
    // Each generator's cumulative acks, turned into rates and added up sample by sample.
    const perGenerator = l.samples.generators.map((g) => ratesFromCumulative(g.map((x) => ({ atMs: x.atMs, total: x.acked }))))
    const length = Math.max(0, ...perGenerator.map((g) => g.length))
    const points = Array.from({ length }, (_, i) => ({ x: perGenerator[0]?.[i]?.atSeconds ?? i, y: perGenerator.reduce((n, g) => n + (g[i]?.perSecond ?? 0), 0) }))
    return { name: `${l.level}x`, points }
  })],
  ['soak: PUBACKs', 'msg/s', (r) => rate('gridline', r.soak?.throughput)],
  ['soak: service RSS', 'MiB', (r) => (r.soak ? [{ name: 'RSS', points: r.soak.rssMiB.map((p) => ({ x: p.atSeconds, y: p.value })) }] : [])],
]

const LATENCY_CHARTS: [string, (r: RoundResult) => Histogram | null | undefined][] = [
  ['alarm latency: publish of the crossing reading to its alarm event on the broker (alarm-latency)', (r) => r.alarmLatency?.eventLatencyHistogram],
  ['ack latency, ingest-single paced at half its rate (ack-latency)', (r) => r.ackLatency?.latencyHistogram],
  ['ack latency, ingest-single at full load', (r) => r.ingestSingle?.latencyHistogram],
  ['ack latency, ingest-batched at full load', (r) => r.ingestBatched?.latencyHistogram],
  ['ack latency, sparkplug: Sparkplug B DDATA', (r) => r.sparkplug?.sparkplug.latencyHistogram],
  ['ack latency, sparkplug: the same readings as JSON', (r) => r.sparkplug?.json.latencyHistogram],
]

function summaryTable(rows: SummaryRow[]): string {
  const cell = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2)) : 'n/a')
  const body = rows.map((r) => {
    const ratio = r.ratio ? `${r.ratio.value.median.toFixed(2)} of ${esc(r.ratio.to)} (${r.ratio.value.min.toFixed(2)}-${r.ratio.value.max.toFixed(2)})` : ''
    const result = r.target ? `<span class="${r.target.pass ? 'pass' : 'fail'}">${r.target.pass ? 'pass' : 'FAIL'}</span>` : ''
    return `<tr><td>${esc(r.scenario)}</td><td>${cell(r.value.median)}</td><td>${cell(r.value.min)}</td><td>${cell(r.value.max)}</td><td>${esc(r.unit)}</td><td>${ratio}</td><td>${esc(r.target?.text ?? '')}</td><td>${result}</td><td class="note">${esc(r.note ?? '')}</td></tr>`
  })
  return `<table><thead><tr><th>scenario</th><th>median</th><th>min</th><th>max</th><th>unit</th><th>ratio (median, min-max)</th><th>target</th><th>result</th><th>note</th></tr></thead><tbody>${body.join('')}</tbody></table>`
}

/** A line chart of several series on shared linear axes starting at 0. */
export function lineChart(title: string, series: Series[], xLabel: string, yLabel: string): string {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
  const xMax = niceCeil(Math.max(1e-9, ...all.map((p) => p.x)))
  const yMax = niceCeil(Math.max(1e-9, ...all.map((p) => p.y)))
  const sx = (x: number) => PAD.left + (x / xMax) * (W - PAD.left - PAD.right)
  const sy = (y: number) => H - PAD.bottom - (y / yMax) * (H - PAD.top - PAD.bottom)
  const lines = series.map((s, i) => {
    const points = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')
    return `<polyline fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="1.5" points="${points}"><title>${esc(s.name)}</title></polyline>`
  })
  return figure(title, [...axes(xMax, yMax, sx, sy, xLabel, yLabel), ...lines, ...legend(series.map((s) => s.name))])
}

/** Latency histograms (log-spaced bins) as grouped bars, one colour per round. */
export function histogramChart(title: string, histograms: { name: string; histogram: Histogram }[]): string {
  const first = histograms[0]!.histogram
  // Only the bins that hold anything, from the first to the last non-empty one.
  const used = first.edgesMs.map((_, i) => histograms.some((h) => (h.histogram.counts[i] ?? 0) > 0))
  const lo = Math.max(0, used.indexOf(true))
  const hi = Math.max(lo, used.lastIndexOf(true))
  const bins = hi - lo + 1
  const shares = histograms.map((h) => h.histogram.counts.slice(lo, hi + 1).map((c) => c / Math.max(1, h.histogram.total)))
  const yMax = niceCeil(Math.max(1e-9, ...shares.flat()))
  const plotW = W - PAD.left - PAD.right
  const barW = plotW / bins / histograms.length
  const sy = (y: number) => H - PAD.bottom - (y / yMax) * (H - PAD.top - PAD.bottom)
  const bars = shares.flatMap((s, k) => s.map((v, i) => {
    const x = PAD.left + (i * histograms.length + k) * barW
    return `<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${(H - PAD.bottom - sy(v)).toFixed(1)}" fill="${COLOURS[k % COLOURS.length]}"><title>${esc(histograms[k]!.name)}: ${(v * 100).toFixed(2)}% at ${first.edgesMs[lo + i]} ms or more</title></rect>`
  }))
  const labels = Array.from({ length: bins }, (_, i) => i).filter((i) => i % Math.ceil(bins / 10) === 0).map((i) =>
    `<text x="${(PAD.left + i * histograms.length * barW).toFixed(1)}" y="${H - PAD.bottom + 14}">${first.edgesMs[lo + i]}</text>`)
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${PAD.left - 6}" y="${sy(f * yMax) + 4}" text-anchor="end">${(f * yMax * 100).toFixed(1)}%</text>`)
  return figure(title, [
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#888"/>`,
    ...bars, ...labels, ...yTicks,
    `<text x="${W / 2}" y="${H - 6}" text-anchor="middle">latency, ms (bin lower edge, log scale)</text>`,
    ...legend(histograms.map((h) => `${h.name} (${h.histogram.total.toLocaleString('en-US')} messages)`)),
  ])
}

function axes(xMax: number, yMax: number, sx: (x: number) => number, sy: (y: number) => number, xLabel: string, yLabel: string): string[] {
  const ticks = [0, 0.25, 0.5, 0.75, 1]
  return [
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#888"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#888"/>`,
    ...ticks.map((f) => `<text x="${sx(f * xMax)}" y="${H - PAD.bottom + 14}" text-anchor="middle">${short(f * xMax)}</text>`),
    ...ticks.map((f) => `<line x1="${PAD.left}" y1="${sy(f * yMax)}" x2="${W - PAD.right}" y2="${sy(f * yMax)}" stroke="#eee"/><text x="${PAD.left - 6}" y="${sy(f * yMax) + 4}" text-anchor="end">${short(f * yMax)}</text>`),
    `<text x="${W / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${esc(yLabel)}</text>`,
  ]
}

function legend(names: string[]): string[] {
  return names.map((name, i) => `<rect x="${PAD.left + 8 + (i % 4) * 160}" y="${4 + Math.floor(i / 4) * 12}" width="10" height="8" fill="${COLOURS[i % COLOURS.length]}"/>` +
    `<text x="${PAD.left + 22 + (i % 4) * 160}" y="${12 + Math.floor(i / 4) * 12}">${esc(name)}</text>`)
}

function figure(title: string, parts: string[]): string {
  return `<figure><figcaption><strong>${esc(title)}</strong></figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg></figure>`
}

/** 1, 2 or 5 times a power of ten, at or above n. */
function niceCeil(n: number): number {
  const p = 10 ** Math.floor(Math.log10(n))
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p
  return 10 * p
}

function short(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toPrecision(3)}M`
  if (n >= 1e3) return `${+(n / 1e3).toPrecision(3)}k`
  return `${+n.toPrecision(3)}`
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
}
