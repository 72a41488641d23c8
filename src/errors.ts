// Errors that reach callers (configuration, files, FFI, sinks) are PodtapError subclasses with a
// stable `code` (undici lib/core/errors.js style). Wire data never throws: parsers count, not throw.

export class PodtapError extends Error {
  readonly code: string
  /** process exit code the CLI uses: 1 runtime failure, 2 bad usage or bad input */
  readonly exitCode: 1 | 2
  constructor(code: string, message: string, exitCode: 1 | 2 = 1, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
  }
}

/** A capture file that is not pcap/pcapng, is cut short, or holds a record that cannot be read. */
export class CaptureFileError extends PodtapError {
  readonly file: string
  readonly offset: number
  constructor(code: string, file: string, offset: number, message: string) {
    super(code, `${file}: ${message} (at byte offset ${offset})`, 2)
    this.file = file
    this.offset = offset
  }
}

/** Bad flags or configuration values. */
export class UsageError extends PodtapError {
  constructor(message: string, code = 'PODTAP_USAGE') {
    super(code, message, 2)
  }
}

/** Kernel, permission, FFI and interface failures of live capture. */
export class CaptureError extends PodtapError {
  constructor(code: string, message: string, exitCode: 1 | 2 = 1, options?: { cause?: unknown }) {
    super(code, message, exitCode, options)
  }
}

/** Sinks: InfluxDB, files, the metrics server. */
export class SinkError extends PodtapError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, 1, options)
  }
}
