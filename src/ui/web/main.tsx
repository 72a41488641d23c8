// The page: header with totals, and three views (service map, RED table, requests) plus a health view
// for the extra sections (TCP health, TLS coverage, counters). Data from the server (src/ui/server.ts):
// one snapshot at a time over Server-Sent Events (replaced, never accumulated), new requests appended
// to a list capped at MAX_LIST. Built with preact (3 kB of DOM diffing and hooks) and bundled with
// cytoscape by scripts/build-ui.mjs: nothing is loaded from elsewhere.

import { render } from 'preact'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { matchRequest, type RequestFilter } from '../filter.js'
import type { UiBucket, UiEdge, UiEndpoint, UiFocus, UiRequest, UiRequestDetail, UiRequestList, UiRow, UiSnapshot } from '../types.js'
import { ServiceMap, type Pick } from './map.js'
import './style.css'

/** requests the page holds at once */
const MAX_LIST = 500
/** table rows rendered at once (the rest: narrow the filter) */
const MAX_TABLE = 1000

type Tab = 'map' | 'table' | 'requests' | 'health'
const TABS: [Tab, string][] = [
  ['map', 'Service map'],
  ['table', 'RED table'],
  ['requests', 'Requests'],
  ['health', 'Health'],
]

function ms(v: number): string {
  if (v === 0) return '-'
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

function bytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`
}

function time(us: number): string {
  const d = new Date(us / 1000)
  return d.toISOString().slice(11, 23)
}

// requests that arrive over the stream, for the request browser to take what matches its filter
type Listener = (l: UiRequestList) => void
const listeners = new Set<Listener>()

function useTab(): [Tab, (t: Tab) => void] {
  const read = (): Tab => (TABS.find(([t]) => `#${t}` === location.hash)?.[0] ?? 'map')
  const [tab, setTab] = useState<Tab>(read())
  useEffect(() => {
    const on = (): void => setTab(read())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return [tab, (t) => (location.hash = t)]
}

function App() {
  const [snap, setSnap] = useState<UiSnapshot | null>(null)
  const [state, setState] = useState<'connecting' | 'live' | 'lost'>('connecting')
  const [tab, setTab] = useTab()
  useEffect(() => {
    const es = new EventSource('api/events')
    es.addEventListener('snapshot', (ev) => {
      setSnap(JSON.parse((ev as MessageEvent<string>).data) as UiSnapshot)
      setState('live')
    })
    es.addEventListener('requests', (ev) => {
      const l = JSON.parse((ev as MessageEvent<string>).data) as UiRequestList
      for (const f of listeners) f(l)
    })
    // EventSource reconnects by itself; say so meanwhile
    es.onerror = () => setState('lost')
    return () => es.close()
  }, [])
  const t = snap?.totals
  return (
    <>
      <header>
        <h1 data-testid="title">{snap?.title ?? 'podtap'}</h1>
        <span class={`state ${state}`} data-testid="state">
          {state === 'lost' ? 'disconnected' : state === 'connecting' ? 'connecting' : snap?.done ? 'done (input read)' : 'live'}
        </span>
        {t && (
          <span class="totals" data-testid="totals">
            <span><b data-testid="total-exchanges">{t.exchanges}</b> requests</span>
            <span><b>{t.errors}</b> errors</span>
            <span><b>{t.unanswered}</b> unanswered</span>
            <span><b>{t.servers}</b> server endpoints</span>
            <span><b>{t.connections}</b> connections ended</span>
          </span>
        )}
        <nav>
          {TABS.map(([id, name]) => (
            <a href={`#${id}`} class={tab === id ? 'on' : ''} data-testid={`tab-${id}`} onClick={(e) => (e.preventDefault(), setTab(id))}>
              {name}
              {id === 'health' && snap && snap.sections.length > 0 ? ` (${snap.sections.length})` : ''}
            </a>
          ))}
        </nav>
      </header>
      <main>
        {snap === null ? (
          <p class="boot">waiting for data…</p>
        ) : tab === 'map' ? (
          <MapView snap={snap} />
        ) : tab === 'table' ? (
          <TableView rows={snap.table} more={snap.tableMore} />
        ) : tab === 'requests' ? (
          <RequestsView snap={snap} />
        ) : (
          <HealthView snap={snap} />
        )}
      </main>
    </>
  )
}

// ---------------------------------------------------------------- service map

declare global {
  interface Window {
    /** for tests and the curious: what the map holds, with on-screen positions */
    podtapMap?: () => { nodes: { id: string; label: string; x: number; y: number }[]; edges: { id: string; source: string; target: string; label: string }[] }
  }
}

function MapView({ snap }: { snap: UiSnapshot }) {
  const box = useRef<HTMLDivElement>(null)
  const map = useRef<ServiceMap | null>(null)
  const [pick, setPick] = useState<Pick>(null)
  useEffect(() => {
    const m = new ServiceMap(box.current!, setPick)
    map.current = m
    window.podtapMap = () => ({
      nodes: m.cy.nodes().map((n) => ({ id: n.id(), label: n.data('label') as string, x: n.renderedPosition().x, y: n.renderedPosition().y })),
      edges: m.cy.edges().map((e) => ({ id: e.id(), source: e.source().id(), target: e.target().id(), label: e.data('label') as string })),
    })
    const ro = new ResizeObserver(() => m.resize())
    ro.observe(box.current!)
    return () => {
      ro.disconnect()
      window.podtapMap = undefined
      m.destroy()
    }
  }, [])
  useEffect(() => map.current?.update(snap), [snap])
  return (
    <>
      <div class="map">
        <div class="cy" ref={box} data-testid="map" />
        <div class="legend">
          {snap.nodes.length === 0 ? 'no traffic yet · ' : ''}edges: <i style="background:#3fb950" />ok <i style="background:#d29922" />errors ≥1 % or retransmits
          <i style="background:#f85149" />errors ≥5 % or failed TLS handshakes <i style="background:#6e7681" />no requests read · dashed = TLS · click a node or an edge
        </div>
      </div>
      {pick !== null && <MapSide snap={snap} pick={pick} onClose={() => setPick(null)} />}
    </>
  )
}

/** The picked edge's or node's history, asked again with every new snapshot while it is shown. */
function useFocus(pick: NonNullable<Pick>, seq: number): UiFocus | null {
  const [f, setF] = useState<UiFocus | null>(null)
  useEffect(() => {
    let stale = false
    fetch(`api/focus?kind=${pick.kind}&id=${encodeURIComponent(pick.id)}`)
      .then(async (r) => (r.ok ? ((await r.json()) as UiFocus) : null))
      .then((x) => {
        if (!stale) setF(x)
      })
      .catch(() => undefined)
    return () => {
      stale = true
    }
  }, [pick.kind, pick.id, seq])
  return f
}

function MapSide({ snap, pick, onClose }: { snap: UiSnapshot; pick: NonNullable<Pick>; onClose: () => void }) {
  const focus = useFocus(pick, snap.seq)
  const eps = new Map(snap.endpoints.map((e) => [e.id, e]))
  const label = (id: string): string => snap.nodes.find((n) => n.id === id)?.label ?? id
  if (pick.kind === 'node') {
    const n = snap.nodes.find((x) => x.id === pick.id)
    if (n === undefined) return null
    const out = snap.edges.filter((e) => e.source === n.id)
    const inc = snap.edges.filter((e) => e.target === n.id)
    return (
      <aside class="side" data-testid="side">
        <span class="close" onClick={onClose}>✕</span>
        <h2>{n.label}</h2>
        <div class="muted">{n.kind}{n.server ? ' · serves' : ''}{n.client ? ' · calls' : ''}</div>
        {n.endpoints.length > 0 && <h3>endpoints it serves</h3>}
        {n.endpoints.map((id) => eps.get(id)).filter((e): e is UiEndpoint => e !== undefined).map((e) => <Endpoint e={e} history={focus?.endpoints[e.id]} rows={snap.table} bucketUs={snap.bucketUs} />)}
        {inc.length > 0 && <h3>called by</h3>}
        {inc.map((e) => <div>{label(e.source)} <span class="muted">{edgeSummary(e)}</span></div>)}
        {out.length > 0 && <h3>calls</h3>}
        {out.map((e) => <div>{label(e.target)} <span class="muted">{edgeSummary(e)}</span></div>)}
      </aside>
    )
  }
  const e = snap.edges.find((x) => x.id === pick.id)
  if (e === undefined) return null
  return (
    <aside class="side" data-testid="side">
      <span class="close" onClick={onClose}>✕</span>
      <h2>{label(e.source)} → {label(e.target)}</h2>
      <div>
        <span class="tag">{e.protocol}</span> {e.tls && <span class="tag tls">TLS</span>} <span class={`h-${e.health}`}>{e.health}</span>
      </div>
      <dl class="kv">
        <dt>requests</dt><dd>{e.requests} ({e.rate.toFixed(2)}/s over the last minute)</dd>
        <dt>errors</dt><dd>{e.errors} ({e.errorRate.toFixed(2)} %)</dd>
        <dt>latency</dt><dd>p50 {ms(e.p50)} ms · p99 {ms(e.p99)} ms</dd>
        {e.handshakes && (<><dt>TLS</dt><dd>{[...e.handshakes.versions, ...e.handshakes.snis.map((x) => `SNI ${x}`)].join(' · ') || 'handshake seen'}{e.handshakes.fatalAlerts > 0 ? ` · ${e.handshakes.fatalAlerts} ended by a fatal alert` : ''}</dd></>)}
        {e.tcp && (
          <>
            <dt>TCP</dt>
            <dd>
              {e.tcp.connections} connections ended
              {e.tcp.refused > 0 ? ` · ${e.tcp.refused} refused` : ''}
              {e.tcp.unanswered > 0 ? ` · ${e.tcp.unanswered} connects unanswered` : ''}
              {e.tcp.connectMs > 0 ? ` · connect ${ms(e.tcp.connectMs)} ms` : ''}
              {` · ${e.tcp.resets} reset · ${e.tcp.retransmits} retransmits of ${e.tcp.packets} packets`}
              {e.tcp.zeroWindows > 0 ? ` · ${e.tcp.zeroWindows} zero windows` : ''}
              {e.tcp.rttServerMs > 0 ? ` · server RTT ${ms(e.tcp.rttServerMs)} ms` : ''}
              {e.tcp.gapBytes > 0 ? ` · ${e.tcp.gapBytes} gap bytes` : ''}
            </dd>
          </>
        )}
      </dl>
      <h3>this edge over time</h3>
      <Spark buckets={focus?.edge} bucketUs={snap.bucketUs} />
      {e.endpoints.length > 0 && <h3>endpoints called (all their clients)</h3>}
      {e.endpoints.map((id) => eps.get(id)).filter((x): x is UiEndpoint => x !== undefined).map((x) => <Endpoint e={x} history={focus?.endpoints[x.id]} rows={snap.table} bucketUs={snap.bucketUs} />)}
    </aside>
  )
}

function edgeSummary(e: UiEdge): string {
  if (e.requests === 0) {
    const h = e.handshakes
    const t = e.tcp
    return [e.protocol, `${t?.connections ?? 0} connections`, ...(t && t.refused ? [`${t.refused} refused`] : []), ...(t && t.unanswered ? [`${t.unanswered} unanswered`] : []), ...(h ? [...h.versions, ...h.snis.map((x) => `SNI ${x}`)] : []), ...(h && h.fatalAlerts ? [`${h.fatalAlerts} failed handshakes`] : [])].join(' · ')
  }
  return `${e.protocol}${e.tls ? ' (TLS)' : ''} · ${e.requests} req · ${e.errorRate.toFixed(1)}% err · p99 ${ms(e.p99)} ms`
}

function Endpoint({ e, history, rows, bucketUs }: { e: UiEndpoint; history: UiBucket[] | undefined; rows: UiRow[]; bucketUs: number }) {
  const mine = rows.filter((r) => r.server === e.server && r.protocol === e.protocol).slice(0, 20)
  return (
    <div class="endpoint" data-testid="endpoint">
      <div><b>{e.server}</b> <span class="tag">{e.protocol}</span></div>
      <div class="muted">{e.requests} requests · {e.errors} errors · p50 {ms(e.p50)} ms · p99 {ms(e.p99)} ms</div>
      <Spark buckets={history} bucketUs={bucketUs} />
      <table>
        <tbody>
          {mine.map((r) => (
            <tr class={r.errors > 0 ? 'err' : ''}>
              <td>{r.method}</td><td class="res">{r.resource}</td><td class="st">{r.status}</td><td class="num">{r.count}</td><td class="num">{ms(r.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** requests per bucket as bars (errors in red on top), p99 as a line; both scaled to their maximum */
function Spark({ buckets, bucketUs }: { buckets: UiBucket[] | undefined; bucketUs: number }) {
  if (buckets === undefined) return <div class="muted">…</div>
  if (buckets.length === 0) return <div class="muted">no requests</div>
  const W = 380
  const H = 48
  const bw = W / Math.max(buckets.length, 12)
  const maxN = Math.max(1, ...buckets.map((b) => b.requests))
  const maxL = Math.max(0.001, ...buckets.map((b) => b.p99))
  const line = buckets.map((b, i) => `${(i + 0.5) * bw},${H - (b.p99 / maxL) * (H - 4) - 2}`).join(' ')
  return (
    <svg class="spark" width={W} height={H + 12} role="img" aria-label="requests and p99 over time">
      {buckets.map((b, i) => {
        const h = (b.requests / maxN) * (H - 4)
        const he = (b.errors / maxN) * (H - 4)
        return (
          <g>
            <rect x={i * bw + 1} y={H - h} width={Math.max(1, bw - 2)} height={h} fill="#2f81f7" />
            {he > 0 && <rect x={i * bw + 1} y={H - h} width={Math.max(1, bw - 2)} height={he} fill="#f85149" />}
          </g>
        )
      })}
      <polyline points={line} fill="none" stroke="#d29922" stroke-width="1.5" />
      <text x="0" y={H + 11} fill="#8a97a6" font-size="10">
        {`${buckets.length} × ${bucketUs / 1e6} s · max ${maxN} req/bucket (bars, errors red) · p99 up to ${ms(maxL)} ms (line)`}
      </text>
    </svg>
  )
}

// ---------------------------------------------------------------- RED table

type Col = { key: keyof UiRow; name: string; num?: boolean; fmt?: (r: UiRow) => string | number }
const COLS: Col[] = [
  { key: 'server', name: 'server' },
  { key: 'protocol', name: 'proto' },
  { key: 'method', name: 'method' },
  { key: 'resource', name: 'resource' },
  { key: 'status', name: 'status' },
  { key: 'count', name: 'count', num: true },
  { key: 'clients', name: 'clients', num: true, fmt: (r) => (r.clients >= 100 ? '100+' : r.clients) },
  { key: 'errors', name: 'errors', num: true },
  { key: 'p50', name: 'p50 ms', num: true, fmt: (r) => ms(r.p50) },
  { key: 'p90', name: 'p90 ms', num: true, fmt: (r) => ms(r.p90) },
  { key: 'p99', name: 'p99 ms', num: true, fmt: (r) => ms(r.p99) },
  { key: 'max', name: 'max ms', num: true, fmt: (r) => ms(r.max) },
]

function TableView({ rows, more }: { rows: UiRow[]; more: number }) {
  const [sort, setSort] = useState<{ key: keyof UiRow; desc: boolean } | null>(null)
  const [q, setQ] = useState('')
  const shown = useMemo(() => {
    const words = q.toLowerCase().split(/\s+/).filter(Boolean)
    let r = words.length === 0 ? rows : rows.filter((x) => {
      const hay = `${x.server} ${x.protocol} ${x.method} ${x.resource} ${x.status}`.toLowerCase()
      return words.every((w) => hay.includes(w))
    })
    if (sort !== null) {
      const k = sort.key
      r = [...r].sort((a, b) => {
        const c = a[k] < b[k] ? -1 : a[k] > b[k] ? 1 : 0
        return sort.desc ? -c : c
      })
    }
    return r
  }, [rows, sort, q])
  return (
    <div class="pane">
      <div class="filters">
        <input data-testid="table-filter" placeholder="filter: server, protocol, method, resource, status (words)" size={50} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <span class="muted" data-testid="table-count">{shown.length} of {rows.length} rows{more > 0 ? ` (${more} more not sent)` : ''}</span>
      </div>
      <table data-testid="red-table">
        <thead>
          <tr>
            {COLS.map((c) => (
              <th class={c.num ? 'num' : ''} onClick={() => setSort(sort?.key === c.key ? { key: c.key, desc: !sort.desc } : { key: c.key, desc: c.num === true })}>
                {c.name}{sort?.key === c.key ? (sort.desc ? ' ▼' : ' ▲') : ''}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, MAX_TABLE).map((r) => (
            <tr class={r.errors > 0 ? 'err' : ''}>
              {COLS.map((c) => (
                <td class={c.num ? 'num' : c.key === 'resource' ? 'res' : c.key === 'status' ? 'st' : ''}>{c.fmt ? c.fmt(r) : String(r[c.key])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// ---------------------------------------------------------------- request browser

function query(f: RequestFilter): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v)
  p.set('limit', String(MAX_LIST))
  return p.toString()
}

function RequestsView({ snap }: { snap: UiSnapshot }) {
  const [f, setF] = useState<RequestFilter>({ protocol: '', status: '', pod: '', text: '' })
  const [list, setList] = useState<{ items: UiRequest[]; matched: number }>({ items: [], matched: 0 })
  const [open, setOpen] = useState<UiRequestDetail | null | 'gone'>(null)
  const fRef = useRef(f)
  fRef.current = f
  useEffect(() => {
    let stale = false
    fetch(`api/requests?${query(f)}`)
      .then((r) => r.json() as Promise<UiRequestList>)
      .then((l) => {
        if (!stale) setList({ items: l.requests, matched: l.matched })
      })
      .catch(() => undefined)
    return () => {
      stale = true
    }
  }, [f])
  useEffect(() => {
    const on: Listener = (l) =>
      setList((cur) => {
        const top = cur.items[0]?.id ?? 0
        const add = l.requests.filter((r) => r.id > top && matchRequest(r, fRef.current))
        if (add.length === 0) return cur
        return { items: [...add, ...cur.items].slice(0, MAX_LIST), matched: cur.matched + add.length }
      })
    listeners.add(on)
    return () => void listeners.delete(on)
  }, [])
  const protocols = useMemo(() => [...new Set(snap.table.map((r) => r.protocol))].sort(), [snap.table])
  const statuses = useMemo(() => [...new Set(snap.table.map((r) => r.status))].sort(), [snap.table])
  const set = (k: keyof RequestFilter) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value })
  const show = (id: number): void => {
    fetch(`api/requests/${id}`)
      .then(async (r): Promise<UiRequestDetail | 'gone'> => (r.ok ? ((await r.json()) as UiRequestDetail) : 'gone'))
      .then((d) => setOpen(d))
      .catch(() => setOpen('gone'))
  }
  return (
    <>
    <div class="pane">
      <div class="filters">
        <select data-testid="filter-protocol" value={f.protocol} onChange={set('protocol')}>
          <option value="">any protocol</option>
          {protocols.map((p) => <option value={p}>{p}</option>)}
        </select>
        <select data-testid="filter-status" value={f.status} onChange={set('status')}>
          <option value="">any status</option>
          <option value="error">errors</option>
          <option value="ok">no error</option>
          <option value="unread">status not read</option>
          <option value="none">no response</option>
          <option value="2xx">HTTP 2xx</option>
          <option value="3xx">HTTP 3xx</option>
          <option value="4xx">HTTP 4xx</option>
          <option value="5xx">HTTP 5xx</option>
          {statuses.filter((s) => s !== '-').map((s) => <option value={s}>{s}</option>)}
        </select>
        <input data-testid="filter-pod" placeholder="pod / address / node" value={f.pod} onInput={set('pod')} />
        <input data-testid="filter-text" placeholder="path / statement / method" size={30} value={f.text} onInput={set('text')} />
        <span class="muted" data-testid="requests-count">
          {list.items.length} shown · {list.matched} matched of the {snap.totals.requestsKept} newest kept
        </span>
      </div>
      <table data-testid="requests">
        <thead>
          <tr><th>time</th><th>proto</th><th>client</th><th>server</th><th>method</th><th>resource</th><th>status</th><th class="num">latency ms</th><th class="num">req</th><th class="num">resp</th></tr>
        </thead>
        <tbody>
          {list.items.map((r) => (
            <tr class={`click${r.error ? ' err' : ''}${open !== null && open !== 'gone' && open.id === r.id ? ' sel' : ''}`} data-id={r.id} onClick={() => show(r.id)}>
              <td>{time(r.t)}</td>
              <td>{r.protocol}{r.tls ? ' TLS' : ''}</td>
              <td>{r.client}</td>
              <td>{r.server}</td>
              <td>{r.method}</td>
              <td class="res">{r.resource}</td>
              <td class="st">{r.status}</td>
              <td class="num">{r.status === '-' ? '-' : r.latencyMs.toFixed(3)}</td>
              <td class="num">{r.reqBytes}</td>
              <td class="num">{r.respBytes}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
    {open === 'gone' && <aside class="side muted">that request is no longer kept (only the newest are)</aside>}
    {open !== null && open !== 'gone' && <Detail d={open} onClose={() => setOpen(null)} />}
    </>
  )
}

function Peer({ title, p, name }: { title: string; p: UiRequestDetail['clientPeer']; name: string }) {
  return (
    <section>
      <h3>{title}</h3>
      <div><b>{name}</b></div>
      <dl class="kv">
        {Object.entries(p).map(([k, v]) => (<><dt>{k}</dt><dd>{String(v)}</dd></>))}
      </dl>
    </section>
  )
}

function Detail({ d, onClose }: { d: UiRequestDetail; onClose: () => void }) {
  const attrs = Object.entries(d.attrs)
  return (
    <aside class="side" data-testid="request-detail">
      <span class="close" onClick={onClose}>✕</span>
      <h2>
        <span class="tag">{d.protocol}</span> {d.tls && <span class="tag tls">TLS</span>} {d.method} {d.resource}
      </h2>
      <dl class="kv">
        <dt>status</dt><dd data-testid="detail-status">{d.status}{d.error ? ' (error)' : ''}</dd>
        <dt>started</dt><dd>{new Date(d.t / 1000).toISOString()}</dd>
        <dt>latency</dt><dd>{d.status === '-' ? 'no response' : `${d.latencyMs} ms`}</dd>
        <dt>bytes</dt><dd>request {bytes(d.reqBytes)} · response {bytes(d.respBytes)}</dd>
      </dl>
      <div class="ends">
        <Peer title="client" p={d.clientPeer} name={d.client} />
        <Peer title="server" p={d.serverPeer} name={d.server} />
      </div>
      {attrs.length > 0 && (
        <>
          <h3>attributes (headers and details the parser kept; credentials redacted)</h3>
          <dl class="kv">{attrs.map(([k, v]) => (<><dt>{k}</dt><dd>{v}</dd></>))}</dl>
        </>
      )}
    </aside>
  )
}

// ---------------------------------------------------------------- health sections

function HealthView({ snap }: { snap: UiSnapshot }) {
  const d = snap.dropped
  return (
    <div class="pane">
      {snap.sections.length === 0 && <p class="muted">nothing yet: TCP health appears when connections end, TLS coverage when TLS is seen</p>}
      {snap.sections.map((s) => (
        <div class="section" data-testid={`section-${s.id}`}>
          <h2>{s.title}</h2>
          {s.note && <div class="note">{s.note}</div>}
          <table>
            <thead><tr>{s.columns.map((c) => <th>{c}</th>)}</tr></thead>
            <tbody>{s.rows.map((r) => <tr>{r.map((v) => <td class={typeof v === 'number' ? 'num' : ''}>{String(v)}</td>)}</tr>)}</tbody>
          </table>
        </div>
      ))}
      {d.nodes + d.edges + d.endpoints > 0 && (
        <p class="note">left off the map (caps): {d.nodes} nodes, {d.edges} edges, {d.endpoints} endpoints</p>
      )}
    </div>
  )
}

const root = document.getElementById('app')!
root.textContent = ''
render(<App />, root)
