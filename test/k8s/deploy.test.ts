// deploy/: every manifest validated against the Kubernetes API schemas (manifest-schema.ts, from
// @kubernetes/client-node's generated models; kubernetes-models when installed), and the things a
// schema cannot see: the DaemonSet asks for exactly the privileges deploy/daemonset.yaml explains,
// the RBAC is read-only, the ConfigMap's keys are flags podtap reads, the example stack refers to
// files that exist and gives Grafana every variable its provisioning files use.

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { loadAllYaml } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { buildProgram } from '../../src/cli/main.js'
import { OTLP_ENV_VARS } from '../../src/sinks/otlp-config.js'
import { validateManifest } from './manifest-schema.js'

const ROOT = resolve(import.meta.dirname, '../..')
const DEPLOY = join(ROOT, 'deploy')
const FILES = ['rbac.yaml', 'configmap.yaml', 'daemonset.yaml', 'example/influxdb.yaml', 'example/grafana.yaml', 'example/jaeger.yaml']

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>

function docs(file: string): Doc[] {
  return loadAllYaml(readFileSync(join(DEPLOY, file), 'utf8')).filter((d) => d !== null) as Doc[]
}

const all = FILES.flatMap((f) => docs(f).map((d) => ({ file: f, d })))
const find = (kind: string, name: string): Doc => {
  const x = all.find(({ d }) => d.kind === kind && d.metadata?.name === name)
  if (x === undefined) throw new Error(`no ${kind} ${name} in deploy/`)
  return x.d
}

describe('deploy/ manifests', () => {
  it('every YAML file under deploy/ is covered here', () => {
    const yamls = (dir: string): string[] =>
      readdirSync(join(DEPLOY, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? yamls(join(dir, e.name)) : e.name.endsWith('.yaml') && e.name !== 'kustomization.yaml' ? [join(dir, e.name)] : [],
      )
    expect(yamls('').sort()).toEqual([...FILES].sort())
  })

  for (const f of FILES) {
    it(`${f}: valid against the Kubernetes API schemas`, () => {
      const ds = docs(f)
      expect(ds.length).toBeGreaterThan(0)
      for (const d of ds) expect(validateManifest(d, `${f}: `)).toEqual([])
    })
  }

  it('the schema check catches what it should (a misspelt field, a wrong type, a missing image)', () => {
    const ds = structuredClone(find('DaemonSet', 'podtap'))
    const c = ds.spec.template.spec.containers[0]
    c.securityContext.capabilites = c.securityContext.capabilities
    c.ports[0].containerPort = '9090'
    delete c.image
    const errors = validateManifest(ds)
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/securityContext\.capabilites: unknown field/),
        expect.stringMatching(/ports\[0\]\.containerPort: expected a number/),
        expect.stringMatching(/containers\[0\]\.image: required/),
      ]),
    )
  })

  it('the DaemonSet: host network and PID, capabilities BPF, NET_RAW, SYS_PTRACE only, not privileged, NODE_NAME, probes on the metrics port, resources', () => {
    const ds = find('DaemonSet', 'podtap')
    const pod = ds.spec.template.spec
    expect(ds.spec.selector.matchLabels).toEqual(expect.objectContaining(ds.spec.template.metadata.labels))
    expect(pod.hostNetwork).toBe(true)
    expect(pod.hostPID).toBe(true)
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet') // cluster DNS (InfluxDB service) from the host network
    expect(pod.serviceAccountName).toBe(find('ServiceAccount', 'podtap').metadata.name)
    expect(pod.containers).toHaveLength(1)
    const c = pod.containers[0]
    const sc = c.securityContext
    expect(sc.privileged).toBeUndefined()
    expect(sc.allowPrivilegeEscalation).toBe(false)
    expect(sc.readOnlyRootFilesystem).toBe(true)
    expect(sc.capabilities).toEqual({ drop: ['ALL'], add: ['BPF', 'NET_RAW', 'SYS_PTRACE'] })
    expect(c.env.find((e: Doc) => e.name === 'NODE_NAME').valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } })
    // the probes hit /healthz on the port podtap serves metrics on
    const metricsPort = Number(c.args[c.args.indexOf('--metrics-port') + 1])
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: metricsPort, protocol: 'TCP' }])
    for (const p of [c.livenessProbe, c.readinessProbe]) expect(p.httpGet).toEqual({ path: '/healthz', port: 'metrics' })
    expect(c.args.slice(0, 2)).toEqual(['capture', '--k8s'])
    for (const k of ['requests', 'limits']) expect(Object.keys(c.resources[k]).sort()).toEqual(['cpu', 'memory'])
    // the args parse: every flag is one podtap capture knows
    const program = buildProgram()
    const capture = program.commands.find((x) => x.name() === 'capture')!
    const known = new Set(capture.options.map((o) => o.long))
    for (const a of c.args.filter((x: string) => x.startsWith('--'))) expect(known.has(a), a).toBe(true)
    expect(readFileSync(join(DEPLOY, 'daemonset.yaml'), 'utf8')).toMatch(/hostPID: true +finds each pod's veth/)
  })

  it('the ClusterRole is read-only: get/list/watch on pods, services, endpoints, nodes, endpointslices, replicasets, nothing else', () => {
    const role = find('ClusterRole', 'podtap-read')
    const granted: string[] = []
    for (const r of role.rules) {
      expect(r.verbs).toEqual(['get', 'list', 'watch'])
      for (const g of r.apiGroups) for (const res of r.resources) granted.push(`${g || 'core'}/${res}`)
    }
    expect(granted.sort()).toEqual(['apps/replicasets', 'core/endpoints', 'core/nodes', 'core/pods', 'core/services', 'discovery.k8s.io/endpointslices'])
    const binding = find('ClusterRoleBinding', 'podtap-read')
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'podtap-read' })
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'podtap', namespace: 'podtap' }])
  })

  it('the ConfigMap holds environment variables podtap capture reads', () => {
    const capture = buildProgram().commands.find((x) => x.name() === 'capture')!
    // the flags' variables, and the OpenTelemetry ones the OTLP output reads itself
    const envs = new Set([...capture.options.map((o) => o.envVar).filter(Boolean), ...OTLP_ENV_VARS])
    const cm = find('ConfigMap', 'podtap')
    for (const k of Object.keys(cm.data)) expect(envs.has(k), k).toBe(true)
    const kust = loadAllYaml(readFileSync(join(DEPLOY, 'example/kustomization.yaml'), 'utf8'))[0] as Doc
    const merged = kust.configMapGenerator.find((g: Doc) => g.name === 'podtap')
    for (const l of merged.literals as string[]) expect(envs.has(l.split('=')[0]!), l).toBe(true)
  })

  it('the example stack: kustomization files exist, Grafana mounts every provisioning file where the provider looks, and gets every ${VAR}', () => {
    const dir = join(DEPLOY, 'example')
    const kust = loadAllYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0] as Doc
    for (const r of kust.resources as string[]) expect(existsSync(join(dir, r)), r).toBe(true)
    for (const g of [...kust.configMapGenerator, ...kust.secretGenerator] as Doc[]) {
      for (const f of [...(g.files ?? []), ...(g.envs ?? [])] as string[]) expect(existsSync(join(dir, f)), f).toBe(true)
    }
    // every file of grafana/provisioning is generated into a ConfigMap and projected to its own path
    const prov = join(ROOT, 'grafana/provisioning')
    const provFiles = (d: string): string[] =>
      readdirSync(join(prov, d), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? provFiles(join(d, e.name)) : [join(d, e.name)]))
    const grafana = find('Deployment', 'grafana')
    const projected = grafana.spec.template.spec.volumes.find((v: Doc) => v.name === 'provisioning').projected.sources as Doc[]
    const paths: string[] = []
    for (const s of projected) {
      const gen = (kust.configMapGenerator as Doc[]).find((g) => g.name === s.configMap.name)
      expect(gen, s.configMap.name).toBeDefined()
      const keys = (gen!.files as string[]).map((f) => basename(f))
      for (const it of s.configMap.items as Doc[]) {
        expect(keys).toContain(it.key)
        // the projected path is the file's path under grafana/provisioning
        const src = (gen!.files as string[]).find((f) => basename(f) === it.key)!
        expect(resolve(dir, src)).toBe(join(prov, it.path))
        paths.push(it.path)
      }
    }
    expect(paths.sort()).toEqual(provFiles('').sort())
    const mount = grafana.spec.template.spec.containers[0].volumeMounts.find((m: Doc) => m.name === 'provisioning')
    expect(mount.mountPath).toBe('/etc/grafana/provisioning')
    // the provider file's paths are where the dashboards land
    const providers = loadAllYaml(readFileSync(join(prov, 'dashboards/podtap.yaml'), 'utf8'))[0] as Doc
    for (const p of providers.providers as Doc[]) expect(paths.some((x) => join('/etc/grafana/provisioning', dirname(x)) === p.options.path)).toBe(true)
    // ${VAR}s of the datasource files are in Grafana's environment
    const env = new Set((grafana.spec.template.spec.containers[0].env as Doc[]).map((e) => e.name))
    for (const f of provFiles('datasources')) {
      const yaml = readFileSync(join(prov, f), 'utf8').split('\n').filter((l) => !l.trim().startsWith('#')).join('\n')
      for (const m of yaml.matchAll(/\$\{(\w+)\}/g)) expect(env.has(m[1]!), `${f}: ${m[1]}`).toBe(true)
    }
    // the Secret keys the pods read exist in the generator's env file
    const secretKeys = readFileSync(join(dir, 'secrets.env'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('=')[0])
    for (const { d } of all) {
      for (const m of JSON.stringify(d).matchAll(/"secretKeyRef":\{"name":"podtap-influx","key":"([^"]+)"/g)) expect(secretKeys).toContain(m[1])
    }
  })

  it('the Containerfile copies files that exist and starts bin/podtap.js', () => {
    const text = readFileSync(join(DEPLOY, 'Containerfile'), 'utf8')
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(ROOT, src)), src).toBe(true)
    }
    // node's own flags (the young-generation cap) may come before the script
    expect(text).toMatch(/ENTRYPOINT \["node", (?:"--[a-z-]+=\w+", )*"\/app\/bin\/podtap\.js"\]/)
    expect(existsSync(join(ROOT, 'bin/podtap.js'))).toBe(true)
  })
})

// kubernetes-models (npm) validates every kind against the full JSON schema of the Kubernetes API,
// required fields and formats included. It is not installed yet: this runs once it is.
let models: Record<string, unknown> | null = null
try {
  const pkg = 'kubernetes-models'
  models = (await import(/* @vite-ignore */ `${pkg}/apps/v1/DaemonSet`)) as Record<string, unknown>
} catch {
  models = null
}
if (models === null) console.log('deploy manifests: kubernetes-models not installed; schema checks use @kubernetes/client-node models only')

describe.skipIf(models === null)('deploy/ manifests against kubernetes-models', () => {
  const paths: Record<string, string> = {
    Namespace: 'v1/Namespace',
    ServiceAccount: 'v1/ServiceAccount',
    ConfigMap: 'v1/ConfigMap',
    Service: 'v1/Service',
    DaemonSet: 'apps/v1/DaemonSet',
    Deployment: 'apps/v1/Deployment',
    ClusterRole: 'rbac.authorization.k8s.io/v1/ClusterRole',
    ClusterRoleBinding: 'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
  }
  for (const { file, d } of all) {
    it(`${file}: ${d.kind}/${d.metadata?.name}`, async () => {
      const pkg = 'kubernetes-models'
      const mod = (await import(/* @vite-ignore */ `${pkg}/${paths[d.kind]}`)) as Record<string, new (x: Doc) => { validate(): void }>
      const Kind = mod[d.kind] ?? mod.default
      expect(() => new Kind!(d).validate()).not.toThrow()
    })
  }
})
