// Validates Kubernetes manifests against the API schemas in @kubernetes/client-node: its model
// classes are generated from the Kubernetes OpenAPI document, and each carries the type map of its
// fields (getAttributeTypeMap: JSON name -> type). Every field of a manifest must exist in its
// object's schema and have the schema's type, recursively; the fields Kubernetes requires are
// checked from REQUIRED below (the generated maps do not say which are required).
//
// kubernetes-models (an npm package of JSON-schema validators) would add the required fields and
// formats of every kind; deploy.test.ts uses it when it is installed.

import * as k8s from '@kubernetes/client-node'

interface Attr {
  name: string
  baseName: string
  type: string
}

type Model = { getAttributeTypeMap(): Attr[] }

/** apiVersion/kind -> client-node model class name */
const KINDS: Record<string, string> = {
  'v1/Namespace': 'V1Namespace',
  'v1/ServiceAccount': 'V1ServiceAccount',
  'v1/ConfigMap': 'V1ConfigMap',
  'v1/Secret': 'V1Secret',
  'v1/Service': 'V1Service',
  'apps/v1/DaemonSet': 'V1DaemonSet',
  'apps/v1/Deployment': 'V1Deployment',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'V1ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'V1ClusterRoleBinding',
}

/** Fields the API server requires, by model (from the Kubernetes API reference). */
const REQUIRED: Record<string, string[]> = {
  V1DaemonSetSpec: ['selector', 'template'],
  V1DeploymentSpec: ['selector', 'template'],
  V1PodSpec: ['containers'],
  V1Container: ['name', 'image'],
  V1ContainerPort: ['containerPort'],
  V1EnvVar: ['name'],
  V1VolumeMount: ['name', 'mountPath'],
  V1Volume: ['name'],
  V1ServicePort: ['port'],
  V1PolicyRule: ['verbs'],
  V1RoleRef: ['apiGroup', 'kind', 'name'],
  RbacV1Subject: ['kind', 'name'],
  V1HTTPGetAction: ['port'],
  V1SecretKeySelector: ['key'],
  V1ConfigMapKeySelector: ['key'],
  V1ObjectFieldSelector: ['fieldPath'],
  V1KeyToPath: ['key', 'path'],
  V1Toleration: [],
  V1SeccompProfile: ['type'],
  V1AppArmorProfile: ['type'],
}

function model(name: string): Model | undefined {
  const m = (k8s as unknown as Record<string, unknown>)[name]
  return m !== undefined && typeof (m as Model).getAttributeTypeMap === 'function' ? (m as Model) : undefined
}

function checkValue(v: unknown, type: string, path: string, errors: string[]): void {
  if (v === null || v === undefined) return
  const arr = /^Array<(.+)>$/.exec(type)
  if (arr !== null) {
    if (!Array.isArray(v)) return void errors.push(`${path}: expected a list (${type})`)
    v.forEach((x, i) => checkValue(x, arr[1]!, `${path}[${i}]`, errors))
    return
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map !== null) {
    if (typeof v !== 'object' || Array.isArray(v)) return void errors.push(`${path}: expected a map (${type})`)
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) checkValue(x, map[1]!, `${path}.${k}`, errors)
    return
  }
  switch (type) {
    case 'string':
    case 'Date':
      if (typeof v !== 'string') errors.push(`${path}: expected a string, got ${JSON.stringify(v)}`)
      return
    case 'number':
      if (typeof v !== 'number') errors.push(`${path}: expected a number, got ${JSON.stringify(v)}`)
      return
    case 'boolean':
      if (typeof v !== 'boolean') errors.push(`${path}: expected true/false, got ${JSON.stringify(v)}`)
      return
    case 'IntOrString':
      if (typeof v !== 'number' && typeof v !== 'string') errors.push(`${path}: expected a number or a string`)
      return
    case 'any':
    case 'object':
      return
  }
  const m = model(type)
  if (m === undefined) return void errors.push(`${path}: no schema for type ${type}`)
  if (typeof v !== 'object' || Array.isArray(v)) return void errors.push(`${path}: expected an object (${type})`)
  const attrs = m.getAttributeTypeMap()
  const byName = new Map(attrs.map((a) => [a.baseName, a]))
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const a = byName.get(k)
    if (a === undefined) {
      errors.push(`${path}.${k}: unknown field (${type} has ${attrs.map((a) => a.baseName).join(', ')})`)
      continue
    }
    checkValue(x, a.type, `${path}.${k}`, errors)
  }
  for (const r of REQUIRED[type] ?? []) {
    if ((v as Record<string, unknown>)[r] === undefined) errors.push(`${path}.${r}: required by ${type}`)
  }
}

/** Schema errors of one manifest document; [] when valid. */
export function validateManifest(doc: Record<string, unknown>, where = ''): string[] {
  const key = `${doc.apiVersion}/${doc.kind}`
  const name = KINDS[key]
  if (name === undefined) return [`${where}: no schema known for ${key}`]
  const errors: string[] = []
  checkValue(doc, name, `${where}${doc.kind}/${(doc.metadata as { name?: string } | undefined)?.name ?? '?'}`, errors)
  // a top-level object needs its name (pod templates do not)
  if (typeof (doc.metadata as { name?: unknown } | undefined)?.name !== 'string') errors.push(`${where}${doc.kind}: metadata.name is required`)
  return errors
}
