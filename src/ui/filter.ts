// The request browser's filter: one predicate for the server (GET /api/requests over the kept
// requests) and the page (requests arriving live), so both agree on what matches.

import type { UiRequest } from './types.js'

export interface RequestFilter {
  /** a protocol id; empty = any */
  protocol?: string
  /**
   * '' any; 'error' error true; 'ok' error false; 'unread' a response whose status could not be read
   * (error null); 'none' no response; '4xx' / '5xx' HTTP classes;
   * anything else: the status exactly ('404', 'OK', '42P01', 'NONE')
   */
  status?: string
  /** substring of either end: node id, table name (namespace/pod:port, ip:port), case-insensitive */
  pod?: string
  /** substring of the method or resource (path, statement, key, topic), case-insensitive */
  text?: string
}

export function matchRequest(r: UiRequest, f: RequestFilter): boolean {
  if (f.protocol && r.protocol !== f.protocol) return false
  const st = f.status ?? ''
  if (st !== '') {
    if (st === 'error') {
      if (!r.error) return false
    } else if (st === 'ok') {
      if (r.error !== false) return false
    } else if (st === 'unread') {
      if (r.error !== null) return false
    } else if (st === 'none') {
      if (r.status !== '-') return false
    } else if (/^[1-5]xx$/.test(st)) {
      if (r.status.length !== 3 || r.status[0] !== st[0] || !/^\d{3}$/.test(r.status)) return false
    } else if (r.status !== st) return false
  }
  if (f.pod) {
    const p = f.pod.toLowerCase()
    if (![r.client, r.server, r.clientNode, r.serverNode].some((s) => s.toLowerCase().includes(p))) return false
  }
  if (f.text) {
    const t = f.text.toLowerCase()
    if (!r.resource.toLowerCase().includes(t) && !r.method.toLowerCase().includes(t)) return false
  }
  return true
}

/** The filter from URL query parameters (protocol, status, pod, text). */
export function filterFromParams(p: URLSearchParams): RequestFilter {
  return { protocol: p.get('protocol') ?? '', status: p.get('status') ?? '', pod: p.get('pod') ?? '', text: p.get('text') ?? '' }
}
