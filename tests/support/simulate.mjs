// Runs a batch of IAM simulations with @cloud-copilot/iam-simulate (installed by .ci/run with npm ci).
// stdin: a JSON list of Simulation objects (the package's own input shape); stdout: a JSON list, one
// {"result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied"} or {"error": ...} per simulation, in order.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const simulations = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const results = []
for (const simulation of simulations) {
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    results.push({ error: response.errors })
  } else {
    results.push({ result: response.overallResult })
  }
}
process.stdout.write(JSON.stringify(results))
