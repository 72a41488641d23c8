// Bounded label values for the metric sinks (STYLE.md "Naming": no raw paths, SQL, keys or ids in
// labels; method normalized and capped per server). Paths become templates (/users/123 -> /users/{id}),
// status codes become classes, and every per-server label set has a cap past which values fold into
// 'other' (counted by the caller).

/** RFC 4122 textual UUID, any version */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DIGITS = /^\d+$/
/** hex ids (object ids, hashes, trace ids): at least 8 hex digits with at least one digit 0-9 */
const HEX = /^(?=.*\d)[0-9a-f]{8,}$/i
/** long opaque tokens (base64url ids, slugs with embedded numbers): letters and digits mixed */
const TOKEN = /^(?=.*\d)(?=.*[a-z])[a-z0-9_=-]{16,}$/i
/** segments kept in a template; the rest of a deep path becomes one '{...}' */
const MAX_SEGMENTS = 8
/** a template longer than this is cut: labels should stay short */
const MAX_TEMPLATE_CHARS = 128

/**
 * A path template for a metric label: query and fragment dropped, numeric segments -> {id}, UUIDs ->
 * {uuid}, hex ids -> {hex}, long mixed tokens -> {token}, segments past the 8th -> {...}.
 * Not a router: /users/alice stays as it is (the per-server cap bounds what templates miss).
 */
export function templatePath(path: string): string {
  let p = path
  const q = p.search(/[?#]/)
  if (q >= 0) p = p.slice(0, q)
  if (p === '' || p[0] !== '/') return p === '*' ? '*' : '{other}' // CONNECT host:port, absolute-form handled by parser
  const segs = p.split('/')
  const out: string[] = []
  for (let i = 1; i < segs.length; i++) {
    if (out.length >= MAX_SEGMENTS) {
      out.push('{...}')
      break
    }
    out.push(templateSegment(segs[i]))
  }
  const t = '/' + out.join('/')
  return t.length > MAX_TEMPLATE_CHARS ? t.slice(0, MAX_TEMPLATE_CHARS - 1) + '…' : t
}

function templateSegment(s: string): string {
  if (s === '') return s
  // ids with an extension keep it: /img/1234.png -> /img/{id}.png
  const dot = s.lastIndexOf('.')
  const stem = dot > 0 ? s.slice(0, dot) : s
  const ext = dot > 0 && s.length - dot <= 6 ? s.slice(dot) : ''
  const base = ext ? stem : s
  let t: string | null = null
  if (DIGITS.test(base)) t = '{id}'
  else if (UUID.test(base)) t = '{uuid}'
  else if (HEX.test(base)) t = '{hex}'
  else if (TOKEN.test(base)) t = '{token}'
  if (t !== null) return t + ext
  return s.length > 64 ? '{long}' : s
}

/**
 * Status as a small class: HTTP-like numeric codes (http, http2) -> '2xx'...'5xx'; other protocols
 * 'ok' or 'error' from the exchange's error flag; no response at all -> 'none'.
 */
export function statusClass(protocol: string, status: number | string | null, error: boolean | null): string {
  if (status === null) return 'none'
  // a response whose status could not be read is neither ok nor error
  if (error === null) return 'unknown'
  if ((protocol === 'http' || protocol === 'http2') && typeof status === 'number' && status >= 100 && status < 600) {
    return `${Math.floor(status / 100)}xx`
  }
  return error ? 'error' : 'ok'
}

/** A status value short enough for a tag: numbers as text, strings cut at 32 characters. */
export function statusLabel(status: number | string | null): string {
  if (status === null) return 'none'
  const s = String(status)
  return s.length > 32 ? s.slice(0, 31) + '…' : s
}

/** "ip:port", with IPv6 in brackets (RFC 3986 §3.2.2) */
export function endpointLabel(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

/**
 * Distinct values per owner (a server, usually) up to a cap; past it a new value becomes 'other'.
 * Owners themselves are capped too: past maxOwners a new owner maps to OTHER_OWNER. Values seen once
 * stay allowed for the life of the object (Prometheus series are cumulative).
 */
export class CappedValues {
  static readonly OTHER = 'other'
  private readonly perOwner = new Map<string, Set<string>>()
  /** values folded into 'other' */
  overflow = 0
  ownerOverflow = 0

  constructor(
    private readonly maxPerOwner: number,
    private readonly maxOwners = Number.POSITIVE_INFINITY,
  ) {}

  /** The owner itself as a label: itself while under maxOwners, else 'other'. */
  owner(owner: string): string {
    if (this.perOwner.has(owner)) return owner
    if (owner !== CappedValues.OTHER && this.perOwner.size >= this.maxOwners) {
      this.ownerOverflow++
      owner = CappedValues.OTHER
      if (this.perOwner.has(owner)) return owner
    }
    this.perOwner.set(owner, new Set())
    return owner
  }

  /** `v` while `owner` has fewer than maxPerOwner values (or already has v), else 'other'. */
  value(owner: string, v: string): string {
    const set = this.perOwner.get(owner) ?? this.perOwner.get(this.owner(owner))!
    if (set.has(v)) return v
    if (set.size >= this.maxPerOwner) {
      this.overflow++
      return CappedValues.OTHER
    }
    set.add(v)
    return v
  }

  /** forget everything (per-window caps) */
  clear(): void {
    this.perOwner.clear()
  }
}
