export async function runBenchCli(_args: string[]): Promise<number> {
  process.stderr.write('gridline bench: not built yet\n')
  return 1
}
