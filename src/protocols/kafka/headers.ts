// Request and response headers, and which header version each (api key, version) uses.
// https://kafka.apache.org/protocol#protocol_messages
//
//   Request => Size(int32) RequestHeader Body          Response => Size(int32) ResponseHeader Body
//   Request Header v0 => request_api_key(int16) request_api_version(int16) correlation_id(int32)
//   Request Header v1 => v0 client_id(NULLABLE_STRING)
//   Request Header v2 => v1 _tagged_fields            (client_id stays a non-compact int16 string)
//   Response Header v0 => correlation_id(int32)
//   Response Header v1 => correlation_id(int32) _tagged_fields
//
// Header v2/v1 go with the API's flexible versions, with two exceptions: ControlledShutdown v0 has
// request header v0 (no client id), and an ApiVersions response always has header v0 so that a client
// can read it whatever version the broker understood (KIP-511).

import { ApiKey, isFlexible } from './api-keys.js'

export function requestHeaderVersion(key: number, version: number): 0 | 1 | 2 {
  if (key === ApiKey.ControlledShutdown && version === 0) return 0
  return isFlexible(key, version) ? 2 : 1
}

export function responseHeaderVersion(key: number, version: number): 0 | 1 {
  if (key === ApiKey.ApiVersions) return 0
  return isFlexible(key, version) ? 1 : 0
}

/** fixed part of a request header: api key, version, correlation id */
export const REQUEST_FIXED_BYTES = 8
