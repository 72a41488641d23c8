// The service map: cytoscape.js draws and lays out the graph (nodes = UiNode, edges = UiEdge).
// Elements are updated in place on every snapshot (data only); the layout runs again only when a node
// or edge appears or goes, so the picture holds still while numbers move.

import cytoscape from 'cytoscape'
import type { UiEdge, UiNode, UiSnapshot } from '../types.js'

export type Pick = { kind: 'node' | 'edge'; id: string } | null

const HEALTH_COLOR: Record<string, string> = { ok: '#3fb950', warn: '#d29922', bad: '#f85149', idle: '#6e7681' }

function fmtRate(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

export function edgeLabel(e: UiEdge): string {
  const parts = [e.protocol === 'tls' ? 'TLS (encrypted)' : `${e.tls ? 'TLS ' : ''}${e.protocol}`]
  if (e.requests > 0) parts.push(`${fmtRate(e.rate)}/s`, `${e.errorRate.toFixed(1)}% err`, `p99 ${e.p99 >= 10 ? e.p99.toFixed(0) : e.p99.toFixed(1)} ms`)
  else if (e.tcp !== undefined) parts.push(`${e.tcp.connections} conn`)
  if (e.tcp !== undefined && e.tcp.refused + e.tcp.unanswered > 0) parts.push(`${e.tcp.refused + e.tcp.unanswered} connects failed`)
  if (e.handshakes !== undefined && e.handshakes.fatalAlerts > 0) parts.push(`${e.handshakes.fatalAlerts} failed handshakes`)
  return parts.join('  ')
}

function nodeData(n: UiNode): Record<string, unknown> {
  return { id: n.id, label: n.label, kind: n.kind, role: n.server ? (n.client ? 'both' : 'server') : 'client' }
}

function edgeData(e: UiEdge): Record<string, unknown> {
  return {
    id: e.id,
    source: e.source,
    target: e.target,
    label: edgeLabel(e),
    color: HEALTH_COLOR[e.health] ?? HEALTH_COLOR.idle,
    tls: e.tls ? 1 : 0,
    width: Math.min(8, 1.5 + Math.log10(1 + e.requests)),
    protocol: e.protocol,
  }
}

export class ServiceMap {
  readonly cy: cytoscape.Core
  private shape = ''

  constructor(container: HTMLElement, onPick: (p: Pick) => void) {
    this.cy = cytoscape({
      container,
      minZoom: 0.2,
      maxZoom: 3,
      style: [
        {
          selector: 'node',
          style: {
            label: 'data(label)',
            color: '#d8dee6',
            'font-size': 11,
            'text-valign': 'bottom',
            'text-margin-y': 4,
            'background-color': '#58a6ff',
            width: 26,
            height: 26,
            'border-width': 2,
            'border-color': '#0f1419',
          },
        },
        { selector: 'node[role = "client"]', style: { 'background-color': '#8a97a6', shape: 'round-rectangle' } },
        { selector: 'node[role = "both"]', style: { 'background-color': '#a371f7' } },
        { selector: 'node:selected', style: { 'border-color': '#f0f6fc', 'border-width': 3 } },
        {
          selector: 'edge',
          style: {
            width: 'data(width)',
            'line-color': 'data(color)',
            'target-arrow-color': 'data(color)',
            'target-arrow-shape': 'triangle',
            'curve-style': 'bezier',
            label: 'data(label)',
            'font-size': 10,
            color: '#d8dee6',
            'text-rotation': 'none',
            'text-background-color': '#0f1419',
            'text-background-opacity': 0.85,
            'text-background-padding': '2px',
          },
        },
        { selector: 'edge[tls = 1]', style: { 'line-style': 'dashed' } },
        { selector: 'edge:selected', style: { 'overlay-color': '#58a6ff', 'overlay-opacity': 0.25, 'overlay-padding': 4 } },
      ],
    })
    this.cy.on('tap', 'node', (ev) => onPick({ kind: 'node', id: ev.target.id() }))
    this.cy.on('tap', 'edge', (ev) => onPick({ kind: 'edge', id: ev.target.id() }))
    this.cy.on('tap', (ev) => {
      if (ev.target === this.cy) onPick(null)
    })
  }

  update(s: UiSnapshot): void {
    const cy = this.cy
    const shape = s.nodes.map((n) => n.id).sort().join('\n') + '\n--\n' + s.edges.map((e) => e.id).sort().join('\n')
    cy.batch(() => {
      const want = new Set<string>()
      for (const n of s.nodes) {
        want.add(n.id)
        const el = cy.getElementById(n.id)
        if (el.empty()) cy.add({ group: 'nodes', data: nodeData(n) })
        else el.data(nodeData(n))
      }
      for (const e of s.edges) {
        want.add(e.id)
        const el = cy.getElementById(e.id)
        if (el.empty()) cy.add({ group: 'edges', data: edgeData(e) })
        else el.data(edgeData(e))
      }
      cy.elements().forEach((el) => {
        if (!want.has(el.id())) el.remove()
      })
    })
    if (shape !== this.shape) {
      this.shape = shape
      // few nodes: clients on top, the servers they call below, tier by tier (web -> cache -> db reads
      // downwards); many: a force layout (cytoscape's cose), which packs the components side by side
      const many = s.nodes.length > 16
      cy.layout(
        (many
          ? { name: 'cose', animate: false, randomize: false, nodeRepulsion: () => 8000, idealEdgeLength: () => 60, componentSpacing: 40, padding: 30 }
          : { name: 'breadthfirst', directed: true, spacingFactor: 1.1, padding: 40, animate: false }) as cytoscape.LayoutOptions,
      ).run()
      cy.fit(undefined, 40)
    }
  }

  resize(): void {
    this.cy.resize()
    this.cy.fit(undefined, 40)
  }

  destroy(): void {
    this.cy.destroy()
  }
}
