// "Pods" for the Kubernetes tests: a network namespace behind a veth (test/helpers/netns.ts), given a
// pod IP the way Calico-style CNIs do it: the address as a /32 on the pod's eth0, a /32 route to it
// on the host through the host-side veth, and the pod's default route using it as source. The host
// side forwards between pods (per-interface forwarding on the test veths only: nothing else on the
// machine changes).
//
//   host:  ip route add 10.214.<n>.<m>/32 dev pt…h           (what `ip route get <podIP>` finds)
//          net.ipv4.conf.pt…h.forwarding = 1
//   pod:   ip addr add 10.214.<n>.<m>/32 dev eth0
//          ip route replace default via 10.213.<n>.1 src 10.214.<n>.<m>

import { writeFileSync } from 'node:fs'
import { createTestHost, runHost, startNginx, type Nginx, type TestHost } from '../helpers/netns.js'

export interface NetPod {
  host: TestHost
  /** the pod IP (10.214.<subnet>.<m>) */
  ip: string
  nginx: Nginx | null
  /** curl from inside this pod; resolves with the HTTP status codes, one per request */
  curl(url: string, n: number): Promise<string[]>
  destroy(): Promise<void>
}

async function ipCmd(args: string[]): Promise<void> {
  const r = await runHost('ip', args)
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`)
}

/** A namespace "pod" with a /32 pod IP routed by the host; nginx on port 80 when `web`. */
export async function createNetPod(name: string, opts: { web?: boolean; m?: number } = {}): Promise<NetPod> {
  const host = await createTestHost({ name })
  try {
    const ip = `10.214.${host.subnet}.${opts.m ?? 10}`
    await host.exec(['ip', 'addr', 'add', `${ip}/32`, 'dev', 'eth0'])
    await host.exec(['ip', 'route', 'replace', 'default', 'via', host.hostIp, 'src', ip])
    await ipCmd(['route', 'add', `${ip}/32`, 'dev', host.hostIf])
    writeFileSync(`/proc/sys/net/ipv4/conf/${host.hostIf}/forwarding`, '1')
    const nginx = opts.web ? await startNginx(host) : null
    return {
      host,
      ip,
      nginx,
      async curl(url: string, n: number): Promise<string[]> {
        const r = await host.exec(['sh', '-c', `for i in $(seq 1 ${n}); do curl -s -o /dev/null -m 5 -w '%{http_code}\\n' ${url}; done`])
        return r.stdout.trim().split('\n').filter(Boolean)
      },
      destroy: () => host.destroy(),
    }
  } catch (e) {
    await host.destroy()
    throw e
  }
}
