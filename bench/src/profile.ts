/**
 * `gridline bench profile <scenario>`: runs the scenario's system under test
 * under clinic doctor, then under clinic flame (NO_INSIGHT=1: no upload
 * prompt), and leaves both HTML reports in results/profile-<scenario>-<time>/.
 */
import { spawn } from 'node:child_process'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

/** The scenarios that can be profiled: their system under test runs in one process (profile-target.ts). */
export const PROFILABLE = ['writer', 'pipeline', 'pipeline-processors', 'ingest-batched', 'ingest-single', 'broker'] as const
type ProfilableScenario = (typeof PROFILABLE)[number]

const USAGE = `Usage: gridline bench profile <scenario> [--duration S] [--database-url URL] [--tool doctor|flame|both]

Scenarios that can be profiled: ${PROFILABLE.join(', ')}.
The system under test runs in the profiled process (the ingest service, aedes, or the writer/pipeline),
its load in separate processes, for --duration seconds (default 20). Reports: results/profile-<scenario>-<time>/.`

const CLINIC = fileURLToPath(new URL('../../node_modules/.bin/clinic', import.meta.url))
const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url))
const TARGET = fileURLToPath(new URL('./profile-target.ts', import.meta.url))

export async function runProfileCli(args: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args, strict: true, allowPositionals: true,
      options: { duration: { type: 'string', default: '20' }, 'database-url': { type: 'string' }, tool: { type: 'string', default: 'both' }, help: { type: 'boolean', short: 'h', default: false } },
    })
  } catch (err) {
    process.stderr.write(`gridline bench profile: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const scenario = positionals[0]
  const duration = Number(values.duration)
  const tools = values.tool === 'both' ? ['doctor', 'flame'] : [values.tool]
  if (positionals.length !== 1 || !(PROFILABLE as readonly string[]).includes(scenario ?? '') || !(Number.isInteger(duration) && duration > 0) ||
      !tools.every((t) => t === 'doctor' || t === 'flame')) {
    process.stderr.write(`gridline bench profile: name one scenario that can be profiled, a whole --duration above 0, and --tool doctor, flame or both.\n\n${USAGE}\n`)
    return 2
  }
  const adminUrl = values['database-url'] ?? process.env.GRIDLINE_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
  const dest = join(RESULTS_DIR, `profile-${scenario}-${stamp}`)
  await mkdir(dest, { recursive: true })
  for (const tool of tools as ('doctor' | 'flame')[]) {
    process.stderr.write(`gridline bench profile: clinic ${tool} on ${scenario} for ${duration} s...\n`)
    const code = await clinic(tool, dest, scenario as ProfilableScenario, adminUrl, duration)
    if (code !== 0) {
      process.stderr.write(`gridline bench profile: clinic ${tool} exited with ${code}; its output is above, the children's stderr in ${dest}/children.log.\n`)
      return 1
    }
  }
  const reports = (await readdir(dest)).filter((f) => f.endsWith('.html'))
  process.stdout.write(`Reports (open in a browser):\n${reports.map((f) => `  ${join(dest, f)}`).join('\n')}\n`)
  return reports.length > 0 ? 0 : 1
}

function clinic(tool: 'doctor' | 'flame', dest: string, scenario: ProfilableScenario, adminUrl: string, duration: number): Promise<number> {
  const child = spawn(CLINIC, [
    tool, '--open=false', '--dest', dest, '--',
    process.execPath, '--import', import.meta.resolve('tsx'), TARGET, scenario, adminUrl, String(duration), join(dest, 'children.log'),
  ], { stdio: 'inherit', env: { ...process.env, NO_INSIGHT: '1', GRIDLINE_BENCH_PROFILE_TARGET: '1' } })
  return new Promise((resolve) => {
    child.once('error', () => resolve(127))
    child.once('exit', (code) => resolve(code ?? 1))
  })
}
