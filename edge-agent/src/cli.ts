/** `gridline edge-agent` ... (placeholder until implemented). Resolves with the exit code. */
export async function runEdgeCli(_argv: string[]): Promise<number> {
  process.stderr.write('gridline: not implemented yet\n')
  return 2
}
