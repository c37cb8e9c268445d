import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  AttributeIds,
  type ClientSession,
  type DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  type OPCUAClientOptions,
  SecurityPolicy,
  UserTokenType,
  setDebugLogger,
  setErrorLogger,
  setWarningLogger,
} from 'node-opcua'

/**
 * node-opcua prints its warnings with console.log, which the test setup treats as a failure;
 * keep them in memory instead so a failing test can still show them.
 */
export const opcuaLog: string[] = []
export function captureOpcuaLogs(): void {
  const keep = (...args: unknown[]) => void opcuaLog.push(args.map(String).join(' '))
  setWarningLogger(keep)
  setErrorLogger(keep)
  setDebugLogger(keep)
}

/** A temporary folder for one test file's certificates, removed by `remove()`. */
export async function temporaryPki(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gridline-plc-'))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

export interface TestClient {
  client: OPCUAClient
  session: ClientSession
  close(): Promise<void>
}

/** A node-opcua client with its own PKI folder that reconnects quickly after a server restart. */
export async function connectClient(
  endpointUrl: string,
  pkiDir: string,
  options: { secure?: boolean; user?: { userName: string; password: string } } = {},
): Promise<TestClient> {
  const clientOptions: OPCUAClientOptions = {
    endpointMustExist: false,
    applicationName: 'gridline-plc-test',
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: path.join(pkiDir, 'client'),
      automaticallyAcceptUnknownCertificate: true,
      disableFileWatchers: true,
    }),
    connectionStrategy: { initialDelay: 100, maxDelay: 300, maxRetry: 100 },
    requestedSessionTimeout: 20_000,
    keepSessionAlive: true,
    ...(options.secure
      ? { securityMode: MessageSecurityMode.SignAndEncrypt, securityPolicy: SecurityPolicy.Basic256Sha256 }
      : {}),
  }
  const client = OPCUAClient.create(clientOptions)
  await client.connect(endpointUrl)
  try {
    const session = await client.createSession(
      options.user ? { type: UserTokenType.UserName, userName: options.user.userName, password: options.user.password } : undefined,
    )
    return {
      client,
      session,
      async close() {
        await session.close().catch(() => undefined)
        await client.disconnect()
      },
    }
  } catch (error) {
    await client.disconnect()
    throw error
  }
}

export async function readValues(session: ClientSession, nodeIds: string[]): Promise<DataValue[]> {
  return session.read(nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })))
}

export async function readValue(session: ClientSession, nodeId: string): Promise<DataValue> {
  return session.read({ nodeId, attributeId: AttributeIds.Value })
}
