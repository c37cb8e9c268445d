'use strict'
const { gridline, actorOf, firstString, isObject } = require('./common.js')

/**
 * `gridline command`: sends a device command and, when its result arrives
 * (the device's reply or the timeout), sends msg.payload = the command record
 * { id, status, detail }. deviceId, action and params come from the config
 * when set there, else from msg.deviceId, msg.action, msg.params.
 */
module.exports = function (RED) {
  function GridlineCommandNode(config) {
    RED.nodes.createNode(this, config)
    const node = this
    let configParams
    try {
      configParams = config.params && String(config.params).trim() !== '' ? JSON.parse(config.params) : undefined
    } catch (err) {
      node.error(`The node's params are not valid JSON: ${err.message}`)
      node.status({ fill: 'red', shape: 'ring', text: 'bad params' })
    }
    let inFlight = 0

    node.on('input', function (msg, send, done) {
      const deviceId = firstString(config.deviceId, msg.deviceId)
      const action = firstString(config.action, msg.action)
      const params = isObject(configParams) ? configParams : isObject(msg.params) ? msg.params : {}
      if (!deviceId) return done(new Error('No device: set one in the node or send msg.deviceId.'))
      if (!action) return done(new Error('No action: set one in the node or send msg.action.'))
      let settings
      try {
        settings = gridline(RED)
      } catch (err) {
        return done(err)
      }
      inFlight++
      node.status({ fill: 'yellow', shape: 'ring', text: `pending: ${inFlight}` })
      settings.runtime.sendCommand({ deviceId, action, params }, actorOf(node)).then((command) => {
        inFlight--
        const ok = command && command.status === 'ok'
        node.status({ fill: ok ? 'green' : 'red', shape: 'dot', text: `${deviceId}: ${command ? command.status : 'no result'}` })
        msg.payload = command
        send(msg)
        done()
      }, (err) => {
        inFlight--
        node.status({ fill: 'red', shape: 'ring', text: 'failed' })
        done(err instanceof Error ? err : new Error(String(err)))
      })
    })
  }

  RED.nodes.registerType('gridline command', GridlineCommandNode)
}
