import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AttributeIds, BrowseDirection, type ClientSession, DataType, MessageSecurityMode, NodeClass, OPCUAClient, SecurityPolicy, UserTokenType } from 'node-opcua'
import { certificateManagerFor } from './sources/opcua/security.ts'

export interface BrowseOptions {
  endpointUrl: string
  maxDepth: number
  secure: boolean
  user?: { userName: string; password: string }
  /** Where the client certificate is kept; a temporary folder when absent. */
  dataDir?: string
}

export interface BrowsedVariable {
  nodeId: string
  /** Browse names from the Objects folder down, joined with '/'. */
  path: string
  dataType: string
}

/** Lists the Variable nodes under the Objects folder, so an edge config can be written from them. */
export async function browseVariables(options: BrowseOptions): Promise<BrowsedVariable[]> {
  const temporary = options.dataDir ? undefined : await mkdtemp(join(tmpdir(), 'gridline-edge-browse-'))
  const dataDir = options.dataDir ?? temporary!
  const client = OPCUAClient.create({
    applicationName: 'gridline-edge-agent',
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    securityMode: options.secure ? MessageSecurityMode.SignAndEncrypt : MessageSecurityMode.None,
    securityPolicy: options.secure ? SecurityPolicy.Basic256Sha256 : SecurityPolicy.None,
    clientCertificateManager: certificateManagerFor(dataDir),
  })
  await client.connect(options.endpointUrl)
  try {
    const session = await client.createSession(options.user ? { type: UserTokenType.UserName, ...options.user } : undefined)
    try {
      const found: BrowsedVariable[] = []
      await walk(session, 'ns=0;i=85', '', options.maxDepth, found, new Set())
      return found
    } finally {
      await session.close().catch(() => undefined)
    }
  } finally {
    await client.disconnect()
    if (temporary) await rm(temporary, { recursive: true, force: true })
  }
}

async function walk(session: ClientSession, nodeId: string, path: string, depth: number, found: BrowsedVariable[], seen: Set<string>): Promise<void> {
  if (depth < 0 || seen.has(nodeId)) return
  seen.add(nodeId)
  const result = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: 'HierarchicalReferences', includeSubtypes: true, resultMask: 63 })
  for (const ref of result.references ?? []) {
    const child = ref.nodeId.toString()
    const childPath = path ? `${path}/${ref.browseName.name}` : String(ref.browseName.name)
    if (ref.nodeClass === NodeClass.Variable) {
      const dataValue = await session.read({ nodeId: child, attributeId: AttributeIds.DataType })
      const typeId = dataValue.value?.value
      const typeName = typeId && typeof typeId.value === 'number' && typeId.namespace === 0 ? (DataType[typeId.value] ?? String(typeId)) : String(typeId)
      found.push({ nodeId: child, path: childPath, dataType: typeName })
    }
    // The standard Server object holds hundreds of diagnostics variables nobody maps to telemetry.
    if (ref.nodeClass === NodeClass.Object && child !== 'ns=0;i=2253') await walk(session, child, childPath, depth - 1, found, seen)
  }
}
