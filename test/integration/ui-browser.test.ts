// The web UI in a real browser: Debian's chromium, headless, driven over the DevTools protocol by
// playwright-core (no browser download). Against the real CLI:
//   - `podtap replay --ui-port 0` of real captures: the page shows the servers, counts, statuses and
//     paths of the captures' golden records (tshark-checked), filters by status, opens a request; the
//     map has a node per server and an edge per client -> server pair; a click on a node opens its
//     endpoints; the screenshot is not blank; the server keeps serving after the replay until SIGINT.
//   - `podtap capture --ui-port 0` on the veths of test namespaces running the demo's nginx and
//     redis-server (src/demo/servers.ts), with a known number of requests sent by this test: the page
//     shows exactly those, live. Needs root (namespaces, eBPF); skips with the reason otherwise.
// The page is built first with the real build step (scripts/build-ui.mjs -> dist/ui/web).

import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisClient } from '../../src/demo/clients.js'
import { startRedis, type DemoServer } from '../../src/demo/servers.js'
import { createTestHost, needRoot, startWeb, type TestHost } from '../helpers/netns.js'
import { readGolden } from '../helpers/records.js'
import { interrupt, killRun, READY, ROOT, runPodtap, traces, type PodtapRun } from './capture-util.js'

const CHROMIUM = '/usr/bin/chromium'
const browserSkip = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install -y chromium; CI installs it)`
if (browserSkip !== null) console.log(`web UI browser tests skipped: ${browserSkip}`)
const liveSkip = browserSkip ?? needRoot() ?? (existsSync('/usr/sbin/nginx') && existsSync('/usr/bin/redis-server') ? null : 'nginx or redis-server not installed')
if (liveSkip !== null && browserSkip === null) console.log(`web UI live capture test skipped: ${liveSkip}`)

const FILES = ['test/pcaps/http1/13-keepalive-304-http10.pcap', 'test/pcaps/http1/06-methods-scanner.pcap', 'test/pcaps/mysql/02-auth-failures.pcap']

let ctx: BrowserContext | undefined
let profile = ''

async function browser(): Promise<BrowserContext> {
  if (ctx !== undefined) return ctx
  profile = mkdtempSync(join(tmpdir(), 'podtap-ui-chromium-'))
  // a fresh profile; nothing fetched from the network, no GPU, no sandbox (root in CI)
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 820 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
  return ctx
}

/** Opens the page; fails the test on any error the page throws or any request it makes off podtap. */
async function open(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await (await browser()).newPage()
  const problems: string[] = []
  const origin = new URL(url).origin
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) problems.push(`request off podtap: ${r.url()}`)
  })
  await page.goto(url)
  return { page, problems }
}

/** Standard deviation of the screenshot's pixel luminance, decoded by the browser itself. */
async function pixelSpread(page: Page, png: Buffer): Promise<number> {
  return page.evaluate(async (b64) => {
    const img = new Image()
    img.src = `data:image/png;base64,${b64}`
    await img.decode()
    const c = document.createElement('canvas')
    c.width = img.width
    c.height = img.height
    const g = c.getContext('2d')!
    g.drawImage(img, 0, 0)
    const d = g.getImageData(0, 0, c.width, c.height).data
    let sum = 0
    let sq = 0
    const n = d.length / 4
    for (let i = 0; i < d.length; i += 4) {
      const y = 0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!
      sum += y
      sq += y * y
    }
    return Math.sqrt(sq / n - (sum / n) ** 2)
  }, png.toString('base64'))
}

type MapState = { nodes: { id: string; label: string; x: number; y: number }[]; edges: { id: string; source: string; target: string; label: string }[] }

async function mapState(page: Page): Promise<MapState> {
  await page.click('[data-testid=tab-map]')
  await page.waitForFunction(() => window.podtapMap !== undefined && window.podtapMap().nodes.length > 0)
  return page.evaluate(() => window.podtapMap!())
}

/** The RED table's cells, row by row. */
async function tableRows(page: Page): Promise<string[][]> {
  await page.click('[data-testid=tab-table]')
  await page.waitForSelector('[data-testid=red-table] tbody tr')
  return page.$$eval('[data-testid=red-table] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')))
}

/** The request list's cells (time, proto, client, server, method, resource, status, ...). */
async function requestRows(page: Page): Promise<string[][]> {
  return page.$$eval('[data-testid=requests] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')))
}

/** Filters the request browser by status and waits until every row shows it. */
async function filterStatus(page: Page, status: string, want: number): Promise<string[][]> {
  await page.click('[data-testid=tab-requests]')
  await page.selectOption('[data-testid=filter-status]', status)
  await page.waitForFunction(
    ([st, n]) => {
      const rows = [...document.querySelectorAll('[data-testid=requests] tbody tr')]
      return rows.length === n && rows.every((r) => r.querySelectorAll('td')[6]?.textContent === st)
    },
    [status, want] as const,
  )
  return requestRows(page)
}

beforeAll(() => {
  if (browserSkip !== null) return
  // the real build step of the page (what `npm run build` runs after tsc)
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-ui.mjs')], { cwd: ROOT, stdio: 'inherit' })
}, 60_000)

afterAll(async () => {
  await ctx?.close()
  if (profile !== '') rmSync(profile, { recursive: true, force: true })
})

describe.skipIf(browserSkip !== null)('web UI on a replayed capture', () => {
  let run: PodtapRun | undefined
  afterAll(() => killRun(run))

  it('shows the capture\'s servers, pairs, counts, statuses and paths; filters, opens, keeps serving until SIGINT', async () => {
    const golden = readGolden(FILES)
    run = runPodtap(['replay', '--ui-port', '0', ...FILES])
    const url = (await run.waitFor(/web UI on (http:\/\/[^\s"]+)/))[1]!
    await run.waitFor(/replay done; the web UI keeps serving/)
    const { page, problems } = await open(url)
    await page.waitForFunction((n) => document.querySelector('[data-testid=total-exchanges]')?.textContent === String(n), golden.length)
    expect(await page.textContent('[data-testid=state]')).toContain('done')

    // the map: one node per server endpoint, one edge per client -> server pair
    const map = await mapState(page)
    const servers = new Set(golden.map((g) => `${g.server.ip}:${g.server.port}`))
    const pairs = new Set(golden.map((g) => `${g.client.ip} -> ${g.server.ip}:${g.server.port} ${g.protocol}`))
    const label = new Map(map.nodes.map((n) => [n.id, n.label]))
    expect(new Set(map.nodes.map((n) => n.label).filter((l) => servers.has(l)))).toEqual(servers)
    expect(new Set(map.edges.map((e) => `${label.get(e.source)} -> ${label.get(e.target)} ${e.label.split(' ')[0]}`))).toEqual(pairs)
    expect(map.edges.length).toBe(pairs.size)
    // a click on a server node opens its endpoints with their rows
    const mysql = map.nodes.find((n) => n.label.endsWith(':3306'))!
    const box = (await page.locator('[data-testid=map]').boundingBox())!
    await page.mouse.click(box.x + mysql.x, box.y + mysql.y)
    await page.waitForSelector('[data-testid=side] [data-testid=endpoint] svg.spark')
    expect(await page.textContent('[data-testid=side]')).toContain('1045')
    const shot = await page.screenshot()
    expect(await pixelSpread(page, shot)).toBeGreaterThan(8)

    // the RED table: each (server, method, resource, status) of the golden records with its count
    const rows = await tableRows(page)
    const want = new Map<string, number>()
    for (const g of golden) {
      const k = [`${g.server.ip}:${g.server.port}`, g.protocol, g.method, g.resource ?? '', g.status === null ? '-' : String(g.status)].join(' | ')
      want.set(k, (want.get(k) ?? 0) + 1)
    }
    const got = new Map(rows.map((r) => [r.slice(0, 5).join(' | '), Number(r[5])]))
    expect(got).toEqual(want)
    // filtered and sorted in the page
    await page.fill('[data-testid=table-filter]', '1045')
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=red-table] tbody tr').length === 1)
    await page.fill('[data-testid=table-filter]', '')
    await page.click('[data-testid=red-table] th:has-text("count")')
    const counts = (await tableRows(page)).map((r) => Number(r[5]))
    expect(counts).toEqual([...counts].sort((a, b) => b - a))

    // the request browser: by status, then one opened
    const n404 = golden.filter((g) => g.status === 404).length
    const r404 = await filterStatus(page, '404', n404)
    expect(r404.map((r) => r[5]).sort()).toEqual(golden.filter((g) => g.status === 404).map((g) => g.resource).sort())
    const n1045 = golden.filter((g) => String(g.status) === '1045').length
    await filterStatus(page, '1045', n1045)
    await page.click('[data-testid=requests] tbody tr >> nth=0')
    await page.waitForSelector('[data-testid=request-detail]')
    const detail = (await page.textContent('[data-testid=request-detail]'))!
    expect(await page.textContent('[data-testid=detail-status]')).toBe('1045 (error)')
    expect(detail).toContain('LOGIN')
    expect(detail).toContain('192.168.1.8')
    expect(detail).toContain('3306')
    expect(problems).toEqual([])

    // still serving after the replay; SIGINT ends it with exit 0 and the port closes
    const { code } = await interrupt(run)
    expect(code).toBe(0)
    await expect(fetch(url + 'api/snapshot')).rejects.toThrow()
  }, 60_000)
})

function httpGet(ip: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port: 80, path, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('error', reject)
    req.end()
  })
}

describe.skipIf(liveSkip !== null)('web UI on a live capture in test namespaces', () => {
  const hosts: TestHost[] = []
  const servers: DemoServer[] = []
  let run: PodtapRun | undefined
  afterAll(async () => {
    killRun(run)
    await Promise.allSettled(servers.map((s) => s.stop()))
    await Promise.allSettled(hosts.map((h) => h.destroy()))
  }, 60_000)

  it('shows the requests this test sent, live, on the map, in the table and the browser', async () => {
    const webHost = await createTestHost({ name: 'uiweb' })
    hosts.push(webHost)
    const cacheHost = await createTestHost({ name: 'uicache' })
    hosts.push(cacheHost)
    const web = await startWeb(webHost)
    servers.push(web)
    const cache = await startRedis(cacheHost)
    servers.push(cache)
    run = runPodtap(['capture', '--iface', `${webHost.hostIf},${cacheHost.hostIf}`, '--format', 'jsonl', '--ui-port', '0'])
    const url = (await run.waitFor(/web UI on (http:\/\/[^\s"]+)/))[1]!
    await run.waitFor(READY)
    const { page, problems } = await open(url)

    // known traffic: each HTTP request on its own connection; Redis on one
    const sent: [string, number][] = [['/api/users', 200], ['/api/users', 200], ['/api/users', 200], ['/api/users', 200], ['/missing.html', 404], ['/missing.html', 404], ['/missing.html', 404], ['/api/cart', 500], ['/api/cart', 500]]
    for (const [path, status] of sent) expect(await httpGet(web.ip, path)).toBe(status)
    const redis = await RedisClient.connect(cache.ip, cache.port)
    for (const c of [['SET', 'k', 'v'], ['GET', 'k'], ['INCR', 'n'], ['INCR', 'n'], ['INCR', 'n']]) expect((await redis.command(...c)).error).toBeNull()
    redis.close()
    const total = sent.length + 5
    // a connect nobody answers on port 81: refused (RST to the SYN), no request; on the map all the same
    await new Promise<void>((resolve, reject) => {
      const sock = connect(81, web.ip)
      sock.once('connect', () => reject(new Error('port 81 is open')))
      sock.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve() : reject(e)))
    })

    // live: the page gets there by itself
    await page.waitForFunction((n) => document.querySelector('[data-testid=total-exchanges]')?.textContent === String(n), total, { timeout: 20_000 })
    expect(await page.textContent('[data-testid=state]')).toContain('live')
    // the refused connect's link comes when its flow ends: wait for its edge
    await page.waitForFunction(() => window.podtapMap!().edges.length === 3, undefined, { timeout: 20_000 })
    const map = await mapState(page)
    const label = new Map(map.nodes.map((n) => [n.id, n.label]))
    expect(map.nodes.map((n) => n.label).sort()).toEqual([`${web.ip}:80`, `${web.ip}:81`, `${cache.ip}:6379`, webHost.hostIp, cacheHost.hostIp].sort())
    expect(map.edges.map((e) => `${label.get(e.source)} -> ${label.get(e.target)} ${e.label.split(' ')[0]}`).sort()).toEqual(
      [`${webHost.hostIp} -> ${web.ip}:80 http`, `${webHost.hostIp} -> ${web.ip}:81 tcp`, `${cacheHost.hostIp} -> ${cache.ip}:6379 redis`].sort(),
    )
    expect(map.edges.find((e) => label.get(e.target) === `${web.ip}:81`)!.label).toContain('1 connects failed')
    expect(await pixelSpread(page, await page.screenshot())).toBeGreaterThan(8)
    // a click on the web edge (a third of the way from client to server, clear of its label) opens the
    // edge with its history and the endpoint it calls
    const webEdge = map.edges.find((e) => label.get(e.target) === `${web.ip}:80`)!
    const [from, to] = [map.nodes.find((n) => n.id === webEdge.source)!, map.nodes.find((n) => n.id === webEdge.target)!]
    const box = (await page.locator('[data-testid=map]').boundingBox())!
    await page.mouse.click(box.x + from.x + (to.x - from.x) / 3, box.y + from.y + (to.y - from.y) / 3)
    await page.waitForSelector('[data-testid=side] [data-testid=endpoint] svg.spark')
    const side = (await page.textContent('[data-testid=side]'))!
    expect(side).toContain(`${webHost.hostIp} → ${web.ip}:80`)
    expect(side).toContain('9 (')
    expect(side).toContain('/missing.html')

    const rows = await tableRows(page)
    const got = new Map(rows.map((r) => [r.slice(0, 5).join(' | '), Number(r[5])]))
    expect(got).toEqual(
      new Map([
        [`${web.ip}:80 | http | GET | /api/users | 200`, 4],
        [`${web.ip}:80 | http | GET | /missing.html | 404`, 3],
        [`${web.ip}:80 | http | GET | /api/cart | 500`, 2],
        [`${cache.ip}:6379 | redis | SET |  | OK`, 1],
        [`${cache.ip}:6379 | redis | GET |  | OK`, 1],
        [`${cache.ip}:6379 | redis | INCR |  | OK`, 3],
      ]),
    )

    const r500 = await filterStatus(page, '500', 2)
    expect(r500.map((r) => r[5])).toEqual(['/api/cart', '/api/cart'])
    await page.click('[data-testid=requests] tbody tr >> nth=0')
    await page.waitForSelector('[data-testid=request-detail]')
    expect(await page.textContent('[data-testid=detail-status]')).toBe('500 (error)')
    const detail = (await page.textContent('[data-testid=request-detail]'))!
    expect(detail).toContain(`${web.ip}:80`)
    expect(detail).toContain(webHost.hostIp)
    expect(problems).toEqual([])

    const { code } = await interrupt(run)
    expect(code).toBe(0)
    // what the page showed is what capture wrote
    expect(traces(run.stdout).length).toBe(total)
  }, 60_000)
})
