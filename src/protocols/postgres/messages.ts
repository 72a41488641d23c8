// PostgreSQL frontend/backend protocol 3.0 message codes and framing.
// Spec: https://www.postgresql.org/docs/current/protocol-message-formats.html
//
// Every message after startup: Byte1 type, Int32 length (counting itself, not the type), body.
// Startup-phase messages have no type byte: Int32 length, Int32 code, body.
//   StartupMessage  len, 196608 (3.0), then name\0value\0 ... \0
//   SSLRequest      8, 80877103          answered by one unframed byte: 'S' (TLS follows) or 'N'
//   GSSENCRequest   8, 80877104          answered by one unframed byte: 'G' (GSSAPI encryption) or 'N'
//   CancelRequest   16, 80877102, pid, secret key (no answer: the server closes)

/** Frontend (client) message types */
export const enum Fe {
  Bind = 0x42, // B
  Close = 0x43, // C
  CopyData = 0x64, // d
  CopyDone = 0x63, // c
  CopyFail = 0x66, // f
  Describe = 0x44, // D
  Execute = 0x45, // E
  Flush = 0x48, // H
  FunctionCall = 0x46, // F
  Parse = 0x50, // P
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: content never read */
  Password = 0x70, // p
  Query = 0x51, // Q
  Sync = 0x53, // S
  Terminate = 0x58, // X
}

/** Backend (server) message types */
export const enum Be {
  Authentication = 0x52, // R
  BackendKeyData = 0x4b, // K
  BindComplete = 0x32, // 2
  CloseComplete = 0x33, // 3
  CommandComplete = 0x43, // C
  CopyBothResponse = 0x57, // W
  CopyData = 0x64, // d
  CopyDone = 0x63, // c
  CopyInResponse = 0x47, // G
  CopyOutResponse = 0x48, // H
  DataRow = 0x44, // D
  EmptyQueryResponse = 0x49, // I
  ErrorResponse = 0x45, // E
  FunctionCallResponse = 0x56, // V
  NegotiateProtocolVersion = 0x76, // v
  NoData = 0x6e, // n
  NoticeResponse = 0x4e, // N
  NotificationResponse = 0x41, // A
  ParameterDescription = 0x74, // t
  ParameterStatus = 0x53, // S
  ParseComplete = 0x31, // 1
  PortalSuspended = 0x73, // s
  ReadyForQuery = 0x5a, // Z
  RowDescription = 0x54, // T
}

export const PROTOCOL_3_0 = 196608 // 3 << 16
export const SSL_REQUEST = 80877103 // 1234 << 16 | 5679
export const GSSENC_REQUEST = 80877104 // 1234 << 16 | 5680
export const CANCEL_REQUEST = 80877102 // 1234 << 16 | 5678

/** startup packets are small: user, database, options; PostgreSQL refuses more than 10000 bytes (MAX_STARTUP_PACKET_LENGTH) */
export const MAX_STARTUP_BYTES = 10000

/**
 * Smallest and largest length field (the Int32, which counts itself) each message type can have, per
 * direction. -1 = no fixed maximum (bounded by limits.maxFrameBytes). Used to find a clean message start
 * after a gap and by detection; a type missing here is not a message of that direction.
 */
export const FE_LENGTHS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [Fe.Bind, [12, -1]], // portal\0 stmt\0 int16 formats int16 params int16 results
  [Fe.Close, [6, -1]], // 'S'|'P' name\0
  [Fe.CopyData, [4, -1]],
  [Fe.CopyDone, [4, 4]],
  [Fe.CopyFail, [5, -1]],
  [Fe.Describe, [6, -1]],
  [Fe.Execute, [9, -1]], // portal\0 int32 max rows
  [Fe.Flush, [4, 4]],
  [Fe.FunctionCall, [14, -1]],
  [Fe.Parse, [8, -1]], // name\0 query\0 int16 n, n*int32
  [Fe.Password, [5, -1]],
  [Fe.Query, [5, -1]], // query\0
  [Fe.Sync, [4, 4]],
  [Fe.Terminate, [4, 4]],
])

export const BE_LENGTHS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [Be.Authentication, [8, -1]],
  [Be.BackendKeyData, [12, 12 + 256]], // 3.2 allows keys up to 256 bytes
  [Be.BindComplete, [4, 4]],
  [Be.CloseComplete, [4, 4]],
  [Be.CommandComplete, [5, 64 + 4]], // a tag: 'INSERT 0 1', 'SELECT 1000000'
  [Be.CopyBothResponse, [7, -1]],
  [Be.CopyData, [4, -1]],
  [Be.CopyDone, [4, 4]],
  [Be.CopyInResponse, [7, -1]],
  [Be.CopyOutResponse, [7, -1]],
  [Be.DataRow, [6, -1]],
  [Be.EmptyQueryResponse, [4, 4]],
  [Be.ErrorResponse, [5, -1]],
  [Be.FunctionCallResponse, [8, -1]],
  [Be.NegotiateProtocolVersion, [12, -1]],
  [Be.NoData, [4, 4]],
  [Be.NoticeResponse, [5, -1]],
  [Be.NotificationResponse, [10, -1]],
  [Be.ParameterDescription, [6, -1]],
  [Be.ParameterStatus, [6, 4 + 2048]],
  [Be.ParseComplete, [4, 4]],
  [Be.PortalSuspended, [4, 4]],
  [Be.ReadyForQuery, [5, 5]],
  [Be.RowDescription, [6, -1]],
])

/**
 * Does a typed message of this direction start at buf[off]? Checks the type, the length range, and what
 * the first body bytes must be where they are fixed. `maxLen` caps open-ended lengths. Returns the
 * message's total length (type byte included), 0 when it is not one, -1 when more bytes are needed.
 */
export function plausibleMessage(buf: Buffer, off: number, client: boolean, maxLen: number): number {
  if (buf.length - off < 5) return -1
  const t = buf[off]
  const range = (client ? FE_LENGTHS : BE_LENGTHS).get(t)
  if (range === undefined) return 0
  const len = buf.readUInt32BE(off + 1)
  if (len < range[0] || len > (range[1] === -1 ? maxLen : range[1])) return 0
  const total = len + 1
  const body = off + 5
  const have = buf.length - body
  if (client) {
    switch (t) {
      case Fe.Describe:
      case Fe.Close:
        if (have > 0 && buf[body] !== 0x53 && buf[body] !== 0x50) return 0 // 'S' statement or 'P' portal
        break
      case Fe.Query:
        if (have >= len - 4 && buf[off + total - 1] !== 0) return 0
        break
    }
  } else {
    switch (t) {
      case Be.ReadyForQuery:
        if (have > 0 && buf[body] !== 0x49 && buf[body] !== 0x54 && buf[body] !== 0x45) return 0 // I T E
        break
      case Be.CommandComplete:
        if (have >= len - 4 && buf[off + total - 1] !== 0) return 0
        if (have > 0 && (buf[body] < 0x41 || buf[body] > 0x5a)) return 0 // tags are upper case
        break
      case Be.Authentication:
        if (have >= 4 && buf.readUInt32BE(body) > 12) return 0 // AuthenticationOk(0) .. SASLFinal(12)
        break
      case Be.ErrorResponse:
      case Be.NoticeResponse:
        // fields: code byte (S V C M D H P ...) + text\0
        if (have > 0 && (buf[body] < 0x41 || buf[body] > 0x7a)) return 0
        break
    }
  }
  return total
}
