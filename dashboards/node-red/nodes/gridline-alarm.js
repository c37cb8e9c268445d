'use strict'
const { gridline, actorOf, firstString, isObject } = require('./common.js')

const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info']

/**
 * `gridline alarm`: raises or clears a custom alarm. Each field comes from the
 * node's config when it is set there, else from the message (docs/node-red.md):
 * ruleId, subject, severity, message, action ('raise' or 'clear'). Sends
 * msg.payload = the alarm (raise) or { cleared } (clear) on success.
 */
module.exports = function (RED) {
  function GridlineAlarmNode(config) {
    RED.nodes.createNode(this, config)
    const node = this

    node.on('input', function (msg, send, done) {
      const p = isObject(msg.payload) ? msg.payload : {}
      const action = firstString(msg.action, config.action) || 'raise'
      const ruleId = firstString(config.ruleId, msg.ruleId, p.ruleId)
      const subject = firstString(config.subject, msg.subject, typeof msg.payload === 'string' ? msg.payload : undefined, p.subject, p.deviceId, p.key)
      if (action !== 'raise' && action !== 'clear') return done(new Error(`msg.action must be 'raise' or 'clear', got '${action}'.`))
      if (!ruleId) return done(new Error('No rule id: set one in the node or send msg.ruleId.'))
      if (!subject) return done(new Error('No subject: set one in the node, or send msg.subject (or a payload with subject, deviceId or key).'))
      let settings
      try {
        settings = gridline(RED)
      } catch (err) {
        return done(err)
      }
      const actor = actorOf(node)
      if (action === 'clear') {
        settings.runtime.clearAlarm({ ruleId, subject }, actor).then((cleared) => {
          node.status({ fill: 'green', shape: 'dot', text: `${cleared ? 'cleared' : 'not active'}: ${subject}` })
          msg.payload = { cleared }
          send(msg)
          done()
        }, (err) => fail(err, done))
        return
      }
      const severity = firstString(config.severity, msg.severity, p.severity) || 'warning'
      if (!SEVERITIES.includes(severity)) return done(new Error(`Severity must be one of ${SEVERITIES.join(', ')}, got '${severity}'.`))
      const message = firstString(config.message, msg.message, p.message) || `${ruleId} on ${subject}`
      const input = { ruleId, subject, severity, message }
      const deviceId = firstString(msg.deviceId, p.deviceId)
      if (deviceId) input.deviceId = deviceId
      const value = typeof msg.value === 'number' ? msg.value : typeof p.value === 'number' ? p.value : undefined
      if (value !== undefined && Number.isFinite(value)) input.value = value
      settings.runtime.raiseAlarm(input, actor).then((alarm) => {
        node.status({ fill: 'red', shape: 'dot', text: `raised: ${subject}` })
        msg.payload = alarm
        send(msg)
        done()
      }, (err) => fail(err, done))
    })

    function fail(err, done) {
      node.status({ fill: 'red', shape: 'ring', text: 'failed' })
      done(err instanceof Error ? err : new Error(String(err)))
    }
  }

  RED.nodes.registerType('gridline alarm', GridlineAlarmNode)
}
