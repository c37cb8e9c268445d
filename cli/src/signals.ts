/** Waits for SIGINT or SIGTERM, runs the graceful stop once; a second signal exits at once. */
export function untilSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false
    const onSignal = () => {
      if (stopping) process.exit(1)
      stopping = true
      stop().then(() => resolve(0), (err) => {
        process.stderr.write(`gridline: stopping failed: ${(err as Error).message}\n`)
        resolve(1)
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
