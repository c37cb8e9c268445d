'use strict'
const { gridline, list } = require('./common.js')

const DEFAULT_RATE = 10
const RESUBSCRIBE_AFTER_MS = 1000

/**
 * `gridline in`: follows the live stream through the service's StreamHub,
 * thinned to `rate` events per second (the latest per device and metric in
 * between; alarm events are never thinned). One message per event:
 * topic `${kind}/${device or key}/${metric}`, payload the event.
 */
module.exports = function (RED) {
  function GridlineInNode(config) {
    RED.nodes.createNode(this, config)
    const node = this
    const filter = {
      kinds: list(config.kinds),
      domains: list(config.domains),
      devices: list(config.devices),
      metrics: list(config.metrics),
    }
    const requested = Number(config.rate)
    let subscription = null
    let closed = false
    let retry = null
    let delivered = 0

    function subscribe() {
      retry = null
      let settings
      try {
        settings = gridline(RED)
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: 'no gridline runtime' })
        node.error(err.message)
        return
      }
      // The runtime clamps the rate too; clamping here keeps the status honest.
      const max = settings.maxEventsPerSecond
      const rate = Math.min(requested > 0 ? requested : DEFAULT_RATE, max)
      const name = `node-red:${node.name || node.id}`
      try {
        subscription = settings.runtime.subscribe(
          { ...definedOnly(filter), maxEventsPerSecond: rate, name },
          (event) => {
            delivered++
            const deviceId = deviceOf(event)
            const device = deviceId && settings.runtime.lookupDevice ? settings.runtime.lookupDevice(deviceId) : undefined
            node.send(device ? { topic: topicOf(event), payload: event, device } : { topic: topicOf(event), payload: event })
          },
          (reason) => {
            subscription = null
            if (closed) return
            node.status({ fill: 'red', shape: 'ring', text: `dropped: ${reason}` })
            node.warn(`The live stream subscription ended (${reason}).`)
            // A subscriber that fell behind (overflow) may subscribe again; a closed hub may not.
            if (reason === 'overflow') retry = setTimeout(subscribe, RESUBSCRIBE_AFTER_MS)
          },
        )
        node.status({ fill: 'green', shape: 'dot', text: `connected (${rate}/s)` })
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: 'subscribe failed' })
        node.error(`Subscribing to the live stream failed: ${err.message}`)
      }
    }

    subscribe()

    node.on('close', function (done) {
      closed = true
      if (retry) clearTimeout(retry)
      if (subscription) subscription.unsubscribe()
      subscription = null
      node.status({})
      done()
    })
    // Read by tests and shown nowhere else.
    node.deliveredCount = () => delivered
  }

  RED.nodes.registerType('gridline in', GridlineInNode)
}

function definedOnly(filter) {
  const out = {}
  for (const key of Object.keys(filter)) if (filter[key] !== undefined) out[key] = filter[key]
  return out
}

/** The device an event is about, when it is about one. */
function deviceOf(event) {
  if (event.kind === 'reading' || event.kind === 'rollup') return event.deviceId
  if (event.kind === 'indicator') return event.scope === 'device' ? event.key : undefined
  if (event.kind === 'alarm') return event.deviceId
  return undefined
}

/** `reading/<device>/<metric>`, `rollup/<device>/<metric>`, `indicator/<key>/<name>`, `alarm/<subject>/<ruleId>`. */
function topicOf(event) {
  switch (event.kind) {
    case 'reading':
    case 'rollup':
      return `${event.kind}/${event.deviceId}/${event.metric}`
    case 'indicator':
      return `indicator/${event.key}/${event.name}`
    case 'alarm':
      return `alarm/${event.subject}/${event.ruleId}`
    default:
      return String(event.kind)
  }
}

module.exports.topicOf = topicOf
