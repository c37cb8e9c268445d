/** The console API client (docs/console-api.md). Every call goes through `api`. */

export interface User {
  name: string
  role: 'viewer' | 'operator' | 'admin' | string
}

export interface Session {
  user: User
  expiresAt: number | string
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

let onUnauthenticated: () => void = () => {}

/** Called when any request (other than the login itself) answers 401: the session is gone. */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  let body: string | undefined
  const method = init.method ?? 'GET'
  // The API requires content-type: application/json on POST/DELETE (CSRF guard with SameSite).
  if (method !== 'GET') {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(init.body ?? {})
  }
  let response: Response
  try {
    response = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: init.signal ?? null })
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error
    throw new ApiError(0, 'NETWORK', error instanceof Error ? error.message : String(error))
  }
  if (response.status === 204) return undefined as T
  const text = await response.text()
  let data: unknown
  try {
    data = text ? JSON.parse(text) : undefined
  } catch {
    data = undefined
  }
  if (!response.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error
    const apiError = new ApiError(response.status, err?.code ?? `HTTP_${response.status}`, err?.message ?? (response.statusText || `HTTP ${response.status}`))
    if (response.status === 401 && path !== '/api/login') onUnauthenticated()
    throw apiError
  }
  return data as T
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.status === 0 ? error.message : `${error.message} (${error.code})`
  return error instanceof Error ? error.message : String(error)
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') search.set(k, String(v))
  const text = search.toString()
  return text ? `?${text}` : ''
}
