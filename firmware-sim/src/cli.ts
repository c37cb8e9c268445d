/** `gridline sim` ... (placeholder until implemented). Resolves with the exit code. */
export async function runSimCli(_argv: string[]): Promise<number> {
  process.stderr.write('gridline: not implemented yet\n')
  return 2
}
