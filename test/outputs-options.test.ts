// The output flags (addOutputOptions), their validation (buildOutputs: bad combinations are a
// UsageError, exit code 2) and OutputHub's wiring: windows before the exchange that closes them,
// own endpoints, close order.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Command } from 'commander'
import { afterAll, describe, expect, it } from 'vitest'
import { addOutputOptions, buildOutputs, OutputHub, resolveInfluxToken, type Output, type OutputOptions } from '../src/cli/outputs.js'
import { UsageError } from '../src/errors.js'
import { Counters } from '../src/counters.js'
import type { RedSnapshot } from '../src/metrics/red.js'
import type { Exchange } from '../src/records.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-outopts-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

function parse(argv: string[], env: Record<string, string> = {}): OutputOptions {
  const saved = { ...process.env }
  Object.assign(process.env, env)
  try {
    const cmd = addOutputOptions(new Command('replay').exitOverride().configureOutput({ writeErr: () => undefined }))
    cmd.parse(argv, { from: 'user' })
    return cmd.opts() as OutputOptions
  } finally {
    for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k]
  }
}

async function usage(o: OutputOptions): Promise<string> {
  try {
    const outs = await buildOutputs(o, new Counters())
    await Promise.all(outs.map((x) => x.close()))
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError)
    expect((e as UsageError).exitCode).toBe(2)
    return (e as Error).message
  }
  throw new Error('expected a usage error')
}

describe('output flags', () => {
  it('parse into OutputOptions with the documented names and defaults', () => {
    const o = parse(['--influx-url', 'http://i:8086', '--influx-bucket', 'b', '--influx-org', 'o', '--influx-traces', '--metrics-port', '9464', '--metrics-out', 'm.txt', '--xlsx', 'x.xlsx', '--sink-queue', '5000'])
    expect(o).toMatchObject({ influxUrl: 'http://i:8086', influxBucket: 'b', influxOrg: 'o', influxTraces: true, metricsPort: 9464, metricsOut: 'm.txt', xlsx: 'x.xlsx', window: 15, sinkQueue: 5000 })
  })

  it('take the InfluxDB settings from PODTAP_INFLUX_* when no flag is given', () => {
    const o = parse([], { PODTAP_INFLUX_URL: 'http://env:8086', PODTAP_INFLUX_BUCKET: 'eb', PODTAP_INFLUX_ORG: 'eo' })
    expect(o).toMatchObject({ influxUrl: 'http://env:8086', influxBucket: 'eb', influxOrg: 'eo' })
  })

  it('reject bad numbers', () => {
    expect(() => parse(['--metrics-port', '70000'])).toThrow(/--metrics-port must be a whole number from 0 to 65535/)
    expect(() => parse(['--window', '0'])).toThrow(/--window/)
  })

  it('are listed under an Outputs heading in --help', () => {
    const help = addOutputOptions(new Command('replay')).helpInformation()
    expect(help).toMatch(/Outputs:\n/)
    for (const f of ['--influx-url', '--influx-token-file', '--influx-traces', '--metrics-port', '--metrics-out', '--xlsx', '--window']) expect(help).toContain(f)
    expect(help).toContain('PODTAP_INFLUX_TOKEN')
  })
})

describe('buildOutputs validation', () => {
  it('names the missing flag for bad combinations', async () => {
    expect(await usage({ influxBucket: 'b' })).toMatch(/--influx-bucket given without --influx-url/)
    expect(await usage({ influxTraces: true })).toMatch(/--influx-traces given without --influx-url/)
    expect(await usage({ influxUrl: 'http://127.0.0.1:1' })).toMatch(/--influx-url needs --influx-bucket/)
    expect(await usage({ metricsHost: '127.0.0.1' })).toMatch(/--metrics-host needs --metrics-port/)
    expect(await usage({ influxUrl: 'ftp://x', influxBucket: 'b' })).toMatch(/only http/)
    expect(await usage({ metricsOut: path.join(tmp, 'missing', 'm.txt') })).toMatch(/--metrics-out .*cannot write/)
  })

  it('reads the token from the flag, a file or PODTAP_INFLUX_TOKEN, in that order', async () => {
    const f = path.join(tmp, 'token')
    fs.writeFileSync(f, '  file-token\n')
    expect(resolveInfluxToken({ influxToken: 'flag', env: { PODTAP_INFLUX_TOKEN: 'env' } })).toBe('flag')
    expect(resolveInfluxToken({ influxTokenFile: f, env: { PODTAP_INFLUX_TOKEN: 'env' } })).toBe('file-token')
    expect(resolveInfluxToken({ env: { PODTAP_INFLUX_TOKEN: 'env' } })).toBe('env')
    expect(resolveInfluxToken({ env: {} })).toBeUndefined()
    expect(() => resolveInfluxToken({ influxToken: 'a', influxTokenFile: f })).toThrow(/not both/)
    expect(() => resolveInfluxToken({ influxTokenFile: path.join(tmp, 'nope') })).toThrow(/no such file/)
    fs.writeFileSync(path.join(tmp, 'empty'), '\n')
    expect(() => resolveInfluxToken({ influxTokenFile: path.join(tmp, 'empty') })).toThrow(/is empty/)
  })

  it('closes outputs already opened when a later one fails', async () => {
    // the metrics port is taken by the first build, so the second fails after opening its InfluxDB sink
    const counters = new Counters()
    const first = await buildOutputs({ metricsPort: 0, metricsHost: '127.0.0.1' }, counters)
    const port = (first[0] as unknown as { address: { port: number } }).address.port
    const t0 = Date.now()
    expect(await usage({ influxUrl: 'http://127.0.0.1:1', influxBucket: 'b', metricsPort: port, metricsHost: '127.0.0.1' })).toMatch(new RegExp(`--metrics-port ${port}: .* already in use`))
    expect(Date.now() - t0).toBeLessThan(1000)
    await Promise.all(first.map((o) => o.close()))
  })
})

describe('OutputHub', () => {
  const ex = (startUs: number, method = 'GET'): Exchange => ({
    protocol: 'http', tls: false, client: { ip: '10.0.0.2', port: 4000 }, server: { ip: '10.0.0.1', port: 80 }, flowId: 1,
    method, resource: '/', status: 200, error: false, startUs, endUs: startUs + 1000, reqBytes: 1, respBytes: 1,
  })

  it('hands a window to outputs before the exchange that closed it, and the last one at close', async () => {
    const seen: string[] = []
    const o: Output = {
      name: 'probe',
      onExchange: (e) => seen.push(`e${e.startUs}`),
      onWindow: (s: RedSnapshot) => seen.push(`w${s.windowStartUs}:${s.series.reduce((a, x) => a + x.requests, 0)}`),
      close: async () => void seen.push('close'),
    }
    const hub = new OutputHub([o], { counters: new Counters(), windowSeconds: 1 })
    hub.exchange(ex(1_000_000))
    hub.exchange(ex(1_500_000))
    hub.exchange(ex(2_100_000)) // closes [1 s, 2 s)
    hub.tick(3_000_000) // the clock passes [2 s, 3 s) with no traffic
    hub.exchange(ex(3_200_000))
    await hub.close()
    expect(seen).toEqual(['e1000000', 'e1500000', 'w1000000:2', 'e2100000', 'w2000000:1', 'e3200000', 'w3000000:1', 'close'])
  })

  it('runs no aggregation when no output wants windows, lists own endpoints, closes metrics last', async () => {
    const order: string[] = []
    const mk = (name: string, eps = [] as { ip: string; port: number }[]): Output => ({ name, ownEndpoints: () => eps, close: async () => void order.push(name) })
    const hub = new OutputHub([mk('prometheus', [{ ip: '0.0.0.0', port: 9464 }]), mk('influx', [{ ip: '10.1.1.1', port: 8086 }]), mk('xlsx')], { counters: new Counters() })
    expect(hub.red).toBeNull()
    expect(hub.ownEndpoints()).toEqual([{ ip: '0.0.0.0', port: 9464 }, { ip: '10.1.1.1', port: 8086 }])
    const named = new OutputHub([mk('influx', [{ ip: 'localhost', port: 8086 }, { ip: 'no-such-host.invalid', port: 1 }])], { counters: new Counters() })
    expect((await named.ownAddresses()).map((e) => e.ip)).toContain('127.0.0.1')
    expect((await named.ownAddresses()).every((e) => e.port === 8086)).toBe(true)
    await hub.close()
    expect(order.at(-1)).toBe('prometheus')
  })
})
