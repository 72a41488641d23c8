// `podtap capture --k8s ...` and `--control-port`: the flags, their checks, and the hook capture()
// calls to start Kubernetes mode and the control API. Kept apart from session.ts so that the CLI
// loads @kubernetes/client-node (about half a second) only when --k8s is given.

import type { PodSample } from '../records.js'
import { Command, InvalidArgumentError, Option } from 'commander'
import type { MultiSource } from '../capture/af-packet.js'
import type { CaptureAttachment } from './capture.js'
import type { ControlServer } from '../control/server.js'
import { ControlState } from '../control/state.js'
import { UsageError } from '../errors.js'
import type { Counters } from '../counters.js'
import { checkNamespace, parseLabelSelector } from '../k8s/selection.js'
import { intArg } from './args.js'
// container identity (and koffi behind it) loads when the hook runs: `replay` starts without it
import type * as ContainerIdentity from '../identity/container-identity.js'

export interface K8sCliOptions {
  k8s: boolean
  kubeconfig?: string
  node?: string
  namespaces?: string[]
  excludeNamespaces?: string[]
  selector?: string
  hostNetwork: boolean
  nodeIfaces?: string[]
  controlPort?: number
  controlHost?: string
  controlTokenFile?: string
}

function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean)
}

function nsList(flag: string) {
  return (v: string, prev: string[] | undefined): string[] => {
    const out = [...(prev ?? [])]
    for (const ns of list(v)) {
      try {
        out.push(checkNamespace(ns))
      } catch (e) {
        throw new InvalidArgumentError(`${flag}: ${(e as Error).message}`)
      }
    }
    return out
  }
}

const port = intArg('--control-port', 0, 65_535)

/** Adds the Kubernetes and control API flags to `podtap capture`. */
export function addK8sOptions(cmd: Command): Command {
  const g = 'Kubernetes:'
  const c = 'Control API:'
  return cmd
    .addOption(new Option('--k8s', "capture every pod of this node on its own veth, as pods come and go, with pod/namespace/workload/service in every record (reads the Kubernetes API)").helpGroup(g))
    .addOption(new Option('--kubeconfig <file>', 'Kubernetes configuration (default: $KUBECONFIG, else the in-cluster ServiceAccount, else ~/.kube/config)').helpGroup(g))
    .addOption(new Option('--node <name>', 'the node podtap runs on (default: $NODE_NAME, else the host name)').helpGroup(g))
    .addOption(new Option('--namespace <list>', 'only pods of these namespaces (comma-separated; repeatable)').argParser(nsList('--namespace')).env('PODTAP_NAMESPACE').helpGroup(g))
    .addOption(new Option('--exclude-namespace <list>', 'never pods of these namespaces (comma-separated; repeatable)').argParser(nsList('--exclude-namespace')).env('PODTAP_EXCLUDE_NAMESPACE').helpGroup(g))
    .addOption(new Option('--selector <labels>', "only pods whose labels match (Kubernetes syntax: 'app=web,tier!=cache,env in (prod,staging)')").env('PODTAP_SELECTOR').helpGroup(g))
    .addOption(new Option('--no-host-network', 'leave host-network pods out (default: captured on the node interface, on their declared ports)').helpGroup(g))
    .addOption(new Option('--node-iface <list>', 'node interfaces for host-network pods (default: those holding the node addresses)').argParser(list).helpGroup(g))
    .addOption(new Option('--control-port <port>', 'serve the control API (see its /openapi.yaml) on this port: list pods and interfaces, select namespaces/pods, switch protocols and outputs at run time').argParser(port).helpGroup(c))
    .addOption(new Option('--control-host <addr>', 'address the control API listens on (default 127.0.0.1; another one needs a token)').helpGroup(c))
    .addOption(new Option('--control-token-file <file>', 'bearer token for the control API (or PODTAP_CONTROL_TOKEN); required off loopback').helpGroup(c))
}

/**
 * The flags as given, checked for combinations that make no sense. `source` tells where a value came
 * from (commander's getOptionValueSource): values from the environment (the DaemonSet's ConfigMap)
 * are ignored without --k8s instead of refused.
 */
export function k8sOptionsFrom(o: Record<string, unknown>, source: (key: string) => string | undefined = () => 'cli'): K8sCliOptions {
  const given = <T>(key: string, v: T | undefined): T | undefined => {
    if (v === undefined || (Array.isArray(v) && v.length === 0) || v === '') return undefined
    return !o.k8s && source(key) === 'env' ? undefined : v
  }
  const r: K8sCliOptions = {
    k8s: Boolean(o.k8s),
    kubeconfig: o.kubeconfig as string | undefined,
    node: o.node as string | undefined,
    namespaces: given('namespace', o.namespace as string[] | undefined),
    excludeNamespaces: given('excludeNamespace', o.excludeNamespace as string[] | undefined),
    selector: given('selector', o.selector as string | undefined),
    hostNetwork: o.hostNetwork !== false,
    nodeIfaces: o.nodeIface as string[] | undefined,
    controlPort: o.controlPort as number | undefined,
    controlHost: o.controlHost as string | undefined,
    controlTokenFile: o.controlTokenFile as string | undefined,
  }
  if (!r.k8s) {
    const stray = (
      [
        ['--kubeconfig', r.kubeconfig],
        ['--node', r.node],
        ['--namespace', r.namespaces],
        ['--exclude-namespace', r.excludeNamespaces],
        ['--selector', r.selector],
        ['--no-host-network', r.hostNetwork ? undefined : true],
        ['--node-iface', r.nodeIfaces],
      ] as const
    ).filter(([, v]) => v !== undefined)
    if (stray.length) throw new UsageError(`${stray.map(([f]) => f).join(', ')} ${stray.length === 1 ? 'needs' : 'need'} --k8s`)
  }
  if (r.selector !== undefined) parseLabelSelector(r.selector)
  // the token also guards the web UI (--ui-port) off loopback
  if (r.controlPort === undefined && (r.controlHost !== undefined || (r.controlTokenFile !== undefined && o.uiPort === undefined))) {
    throw new UsageError('--control-host and --control-token-file need --control-port (--control-token-file: or --ui-port)')
  }
  return r
}

export interface HookContext {
  /** every protocol podtap knows, and those --protocols enabled (all when absent) */
  knownProtocols: readonly string[]
  protocols?: readonly string[]
  counters?: Counters
  env?: NodeJS.ProcessEnv
  /** the run's control state (shared with the outputs the CLI wraps with gateOutput) */
  state?: ControlState
  /** --k8s: where each round of pod resource samples goes (OutputHub.pods), once per window */
  onPods?: (samples: PodSample[]) => void
  /** the RED window, seconds (the pod sampling interval follows it; default 15) */
  windowSeconds?: number
  /** --ring-blocks and --snaplen: the ring every pod veth shares */
  ring?: { blockCount?: number; snaplen?: number }
}

/**
 * The hook for capture(): starts Kubernetes mode (when --k8s) and the control API (when
 * --control-port) on capture's MultiSource; undefined when neither is asked for.
 */
export function captureHook(cli: K8sCliOptions, ctx: HookContext): ((multi: MultiSource, log: (msg: string) => void) => Promise<CaptureAttachment>) | undefined {
  if (!cli.k8s && cli.controlPort === undefined) return undefined
  return async (multi, log) => {
    const { parseCgroupContainer, podUidOfCgroup }: typeof ContainerIdentity = await import('../identity/container-identity.js')
    const state = ctx.state ?? new ControlState(ctx.knownProtocols, ctx.protocols)
    let session: import('../k8s/session.js').K8sSession | undefined
    let server: ControlServer | undefined
    let podUids: (() => Set<string>) | undefined
    try {
      if (cli.k8s) {
        const { startK8s, selectedPodUids } = await import('../k8s/session.js')
        session = await startK8s(multi, {
          kubeconfig: cli.kubeconfig,
          node: cli.node,
          env: ctx.env,
          namespaces: cli.namespaces,
          excludeNamespaces: cli.excludeNamespaces,
          selector: cli.selector,
          hostNetwork: cli.hostNetwork,
          nodeIfaces: cli.nodeIfaces,
          counters: ctx.counters,
          log,
          podStats: ctx.onPods !== undefined ? { onPods: ctx.onPods, intervalMs: (ctx.windowSeconds ?? 15) * 1000 } : undefined,
          sharedRing: ctx.ring,
        })
        const k = session
        podUids = () => selectedPodUids(k.attachment, k.index)
      }
      if (cli.controlPort !== undefined) {
        const { startControlServer, resolveControlToken } = await import('../control/server.js')
        const token = resolveControlToken(cli.controlTokenFile, ctx.env)
        server = await startControlServer(
          {
            state,
            k8s: session,
            interfaces: () => multi.sources.map((s) => ({ name: s.name, ifindex: (s as { ifindex?: number }).ifindex })),
            stats: () => {
              const st = multi.stats()
              return { packets: st.packets, bytes: st.bytes, dropped: st.dropped }
            },
          },
          { port: cli.controlPort, host: cli.controlHost, token, log },
        )
      }
    } catch (e) {
      await session?.close()
      await server?.close()
      throw e
    }
    const s = session
    return {
      accept: s !== undefined ? (p) => s.accept(p) : undefined,
      exchange: (e) => state.keepExchange(e) && (s === undefined || s.exchange(e)),
      link: (l) => state.keepLink(l) && (s === undefined || s.link(l)),
      peers: s !== undefined ? (c, sv) => s.index.enrichPair(c, sv) : undefined,
      tcpView: s !== undefined ? (c, serverIp, tsUs) => s.attachment.tcpView(c, serverIp, tsUs) : undefined,
      identifyProcess:
        s !== undefined
          ? (cgroupPath) => {
              const uid = podUidOfCgroup(cgroupPath)
              return uid === null ? undefined : s.index.identityOfPodUid(uid, parseCgroupContainer(`0::${cgroupPath}`)?.id)
            }
          : undefined,
      tlsPodUids: podUids,
      close: async () => {
        await server?.close()
        await s?.close()
      },
    }
  }
}
