// grafana/provisioning: what Grafana needs to load the dashboards unchanged (no Grafana here; the
// queries themselves run against a real InfluxDB and a real Prometheus in
// test/integration/influx-replay.test.ts and prometheus-scrape.test.ts).

import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = path.join(import.meta.dirname, '..', 'grafana', 'provisioning')
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8')

interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource: { type: string; uid: string }
  targets: { refId: string; datasource: { type: string; uid: string }; query?: string; expr?: string }[]
}

const datasources = [
  { dir: 'influxdb', file: 'datasources/podtap-influxdb.yaml', type: 'influxdb', uid: 'podtap-influxdb', field: 'query' as const },
  { dir: 'prometheus', file: 'datasources/podtap-prometheus.yaml', type: 'prometheus', uid: 'podtap-prometheus', field: 'expr' as const },
]

describe('grafana provisioning', () => {
  it('datasources have the fixed uids the dashboards use, settings from the environment, no secrets', () => {
    for (const d of datasources) {
      const y = read(d.file)
      expect(y).toMatch(/^apiVersion: 1$/m)
      expect(y).toMatch(new RegExp(`^\\s+uid: ${d.uid}$`, 'm'))
      expect(y).toMatch(new RegExp(`^\\s+type: ${d.type}$`, 'm'))
      expect(y).toMatch(/url: \$\{PODTAP_\w+_URL\}/)
    }
    const influx = read('datasources/podtap-influxdb.yaml')
    expect(influx).toMatch(/dbName: \$\{PODTAP_INFLUX_DB\}/)
    expect(influx).toMatch(/httpHeaderValue1: Token \$\{PODTAP_INFLUX_TOKEN\}/) // a secret only by reference
    expect(influx).not.toMatch(/version: Flux/) // InfluxQL: works on 1.8, 2.x (DBRP) and 3.x
  })

  it('the dashboard provider points at both dashboard folders', () => {
    const y = read('dashboards/podtap.yaml')
    for (const d of datasources) expect(y).toContain(`path: /etc/grafana/provisioning/dashboards/${d.dir}`)
  })

  for (const d of datasources) {
    it(`${d.dir} dashboards are complete: unique uids and panel ids, layout on the 24-column grid, one datasource, variables defined`, () => {
      const files = fs.readdirSync(path.join(ROOT, 'dashboards', d.dir)).filter((f) => f.endsWith('.json'))
      expect(files.sort()).toEqual(['podtap-endpoint-red.json', 'podtap-health.json', 'podtap-overview.json'])
      const uids = new Set<string>()
      const types = new Set<string>()
      for (const f of files) {
        const dash = JSON.parse(read(path.join('dashboards', d.dir, f)))
        expect(dash.id ?? null, f).toBeNull() // provisioned dashboards carry no database id
        expect(dash.uid.length, f).toBeLessThanOrEqual(40)
        expect(uids.has(dash.uid), f).toBe(false)
        uids.add(dash.uid)
        expect(dash.schemaVersion, f).toBeGreaterThanOrEqual(36)
        const vars = new Set<string>(dash.templating.list.map((v: { name: string }) => v.name))
        for (const v of dash.templating.list) {
          expect(v.datasource.uid, `${f} $${v.name}`).toBe(d.uid)
          // "All" must match series where the tag/label is empty (no k8s enrichment yet)
          if (v.includeAll) expect(v.allValue, `${f} $${v.name}`).toBe('.*')
        }
        const ids = new Set<number>()
        for (const p of dash.panels as Panel[]) {
          types.add(p.type)
          expect(ids.has(p.id), `${f} ${p.title}`).toBe(false)
          ids.add(p.id)
          expect(p.gridPos.x + p.gridPos.w, `${f} ${p.title}`).toBeLessThanOrEqual(24)
          expect(p.datasource.uid).toBe(d.uid)
          expect(p.targets.length, `${f} ${p.title}`).toBeGreaterThan(0)
          expect(new Set(p.targets.map((t) => t.refId)).size).toBe(p.targets.length)
          for (const t of p.targets) {
            expect(t.datasource).toEqual({ type: d.type, uid: d.uid })
            const q = t[d.field]!
            expect(q, `${f} ${p.title}`).toBeTruthy()
            // every $variable is a dashboard variable or one Grafana provides
            for (const m of q.matchAll(/\$(\w+)/g)) {
              if (m[1].startsWith('__') || m[1] === 'timeFilter' || m[1].startsWith('tag_') || m[1] === 'col') continue
              expect(vars.has(m[1]), `${f} "${p.title}" uses $${m[1]}`).toBe(true)
            }
          }
        }
        if (f !== 'podtap-health.json') for (const v of ['namespace', 'pod', 'protocol']) expect(vars.has(v), `${f} $${v}`).toBe(true)
      }
      // the panels: overview table, time series, heatmap, stats
      for (const t of ['table', 'timeseries', 'heatmap', 'stat']) expect(types.has(t), t).toBe(true)
    })
  }
})
