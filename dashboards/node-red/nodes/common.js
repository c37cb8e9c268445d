'use strict'
// Helpers shared by the gridline nodes. Not a node itself: package.json lists
// the node files explicitly, so Node-RED never loads this one as a node.

/**
 * The runtime the ingest service put in Node-RED's settings
 * (dashboards/src/node-red-runtime.ts). Read on every use, never cached, so a
 * node always talks to the service that runs it now.
 */
function gridline(RED) {
  let settings
  try {
    settings = RED.settings.gridline
  } catch {
    settings = undefined
  }
  if (!settings || !settings.runtime) {
    throw new Error('The gridline runtime is missing from Node-RED settings: the gridline nodes only run inside the gridline ingest service (docs/node-red.md).')
  }
  return settings
}

/** `node-red:<node name>`, else `node-red:<type>/<id>`: who the audit log says did it. */
function actorOf(node) {
  return `node-red:${node.name || `${node.type}/${node.id}`}`
}

/** A comma or newline separated list, trimmed, empties removed; undefined when nothing is left. */
function list(value) {
  if (Array.isArray(value)) value = value.join(',')
  if (typeof value !== 'string') return undefined
  const items = value.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)
  return items.length > 0 ? items : undefined
}

/** The first of `values` that is a non-empty string. */
function firstString(...values) {
  for (const v of values) if (typeof v === 'string' && v.trim() !== '') return v.trim()
  return undefined
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

module.exports = { gridline, actorOf, list, firstString, isObject }
