// Struct offsets the Go tap follows from a *tls.Conn to the socket's file descriptor, per Go
// version (amd64, 64-bit pointers):
//
//   *tls.Conn ──conn (net.Conn interface: itab, data)──> *net.TCPConn ──conn.fd──> *net.netFD
//     ──pfd (poll.FD)──> Sysfd int
//
// Derived from the Go sources of each release (field order decides the offset; every field before
// the one followed is named below, with its size):
//   crypto/tls/conn.go     type Conn struct { conn net.Conn; isClient bool; ... }
//                          conn at 0, isClient after the 16-byte interface at 16
//   runtime/runtime2.go    type iface struct { tab *itab; data unsafe.Pointer }   data at 8
//   net/tcpsock.go         type TCPConn struct { conn }  net/net.go type conn struct { fd *netFD }   fd at 0
//   net/fd_posix.go        type netFD struct { pfd poll.FD; ... }             pfd at 0
//   internal/poll/fd_unix.go  type FD struct { fdmu fdMutex; Sysfd int; ... } fdMutex is
//                          { state uint64; rsema uint32; wsema uint32 } = 16 bytes   Sysfd at 16
// These have not moved from Go 1.17 through 1.23 (1.21 added a SysFile after Sysfd, which moves
// nothing before it), so the rows are equal; they are kept per version so a release that moves a
// field gets its own row, and a version outside the table is refused ('unknown Go version'), never
// guessed. Tested for real against Go 1.19 (test/integration/go-tls.test.ts: the fd read through
// these offsets resolves to the connection's 4-tuple).
//
// The net.Conn of a tls.Conn is a *net.TCPConn for every server from tls.NewListener / http's
// ListenAndServeTLS and every client from tls.Dial / http.Transport / gRPC credentials. Another
// net.Conn (a user wrapper) yields an fd that is not that connection's socket: the BPF side checks
// that the fd is a TCP socket and otherwise reports the chunk without a 4-tuple.

export interface GoTlsOffsets {
  /** tls.Conn.conn (the net.Conn interface) */
  connIface: number
  /** the data word of an interface value */
  ifaceData: number
  /** net.TCPConn -> conn.fd (*netFD) */
  tcpConnFd: number
  /** netFD.pfd (poll.FD) */
  netFdPfd: number
  /** poll.FD.Sysfd */
  pfdSysfd: number
  /** tls.Conn.isClient (bool): the record's role */
  connIsClient: number
}

const GO_117_123: GoTlsOffsets = { connIface: 0, ifaceData: 8, tcpConnFd: 0, netFdPfd: 0, pfdSysfd: 16, connIsClient: 16 }

/** Go 1.minor -> offsets; amd64 only (arm64 has the same struct layouts but is not tested here). */
export const GO_TLS_OFFSETS: ReadonlyMap<number, GoTlsOffsets> = new Map([
  [17, GO_117_123], [18, GO_117_123], [19, GO_117_123], [20, GO_117_123], [21, GO_117_123], [22, GO_117_123], [23, GO_117_123],
])

/**
 * The offsets packed into a uprobe's BPF cookie (bpf/go_tls.c unpacks them), one byte each from the
 * low end: connIface, ifaceData, tcpConnFd, netFdPfd, pfdSysfd, connIsClient.
 */
export function offsetsCookie(o: GoTlsOffsets): bigint {
  const f = [o.connIface, o.ifaceData, o.tcpConnFd, o.netFdPfd, o.pfdSysfd, o.connIsClient]
  let c = 0n
  f.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`offset ${v} does not fit a cookie byte`)
    c |= BigInt(v) << BigInt(8 * i)
  })
  return c
}
