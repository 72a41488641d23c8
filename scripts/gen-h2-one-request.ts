// Generates test/pcaps/http2/09-mid-stream-one-request-no-preface.pcap: an h2c connection joined in
// its middle where the capture holds only one request: its HEADERS (literal fields, decodable without
// the HPACK table: :method, :scheme, :path and :authority with static names and literal values, as
// an encoder sends a header it chose not to index) and 20 kB of DATA (two frames) spread over 14 segments; the
// response never comes before the capture ends. Built with test/helpers/buffers/http2.ts and
// test/helpers/packets.ts (no preface, no SYN).
//
//   npx tsx scripts/gen-h2-one-request.ts test/pcaps/http2/09-mid-stream-one-request-no-preface.pcap

import { data, frame, litIdx } from '../test/helpers/buffers/http2.js'
import { TcpConversation, writePcap } from '../test/helpers/packets.js'

const t = new TcpConversation({ client: { ip: '10.2.0.4', port: 43270 }, server: { ip: '10.2.0.8', port: 8081 }, stepUs: 400, clientIsn: 77_000_000, serverIsn: 91_000_000 })
// HEADERS, END_HEADERS, stream 9: literal without indexing, name from the static table
const block = Buffer.concat([
  litIdx(2, 'POST'), // :method
  litIdx(6, 'http'), // :scheme
  litIdx(4, '/v1/uploads/report.csv'), // :path
  litIdx(1, 'files.internal:8081'), // :authority
  litIdx(31, 'text/csv'), // content-type
])
const body = Buffer.alloc(20_000, 'date,host,bytes\n')
// DATA frames of at most 16 384 bytes (the default SETTINGS_MAX_FRAME_SIZE)
t.send('c2s', Buffer.concat([frame(1, 0x4, 9, block), data(9, body.subarray(0, 16_384)), data(9, body.subarray(16_384), true)]))
t.ack('s2c')
writePcap(process.argv[2]!, t.packets)
