#!/usr/bin/env python3
# Writes <capture>.follow.json for every capture in this folder: what tshark's "Follow TCP Stream"
# reassembles per connection and direction, for src/tcp/pcaps.test.ts to compare with.
#
#   per stream: the two endpoints, and per direction the reassembled payload's length and sha256
#   plus the gaps tshark reports ("[N bytes missing in capture file]") as [offset, N] pairs.
#
# Run from this folder: python3 make-golden.py   (needs tshark; 4.0.17 from Debian 12 was used)
import hashlib, json, re, subprocess, sys
from pathlib import Path

TSHARK = ['tshark', '-n', '-o', 'tcp.desegment_tcp_streams:TRUE', '-o', 'tcp.analyze_sequence_numbers:TRUE']
MISSING = re.compile(rb'\[(\d+) bytes missing in capture file\]\x00')


def endpoint(text: str) -> str:
    # "10.0.0.1:80" or "[2001:db8::1]:80" -> "10.0.0.1 80" / "2001:db8::1 80"
    host, port = text.rsplit(':', 1)
    return host.strip('[]') + ' ' + port


def follow(cap: Path, stream: int):
    out = subprocess.run(TSHARK + ['-r', str(cap), '-q', '-z', f'follow,tcp,raw,{stream}'],
                         capture_output=True, text=True, check=True).stdout
    nodes, chunks = [], {0: bytearray(), 1: bytearray()}
    for line in out.splitlines():
        if line.startswith('Node '):
            nodes.append(endpoint(line.split(': ', 1)[1]))
        elif re.fullmatch(r'\t?[0-9a-f]+', line) and len(nodes) == 2:
            side = 1 if line.startswith('\t') else 0
            chunks[side] += bytes.fromhex(line.strip())
    dirs = []
    for side in (0, 1):
        raw = bytes(chunks[side])
        data, gaps, at = bytearray(), [], 0
        for m in MISSING.finditer(raw):
            data += raw[at:m.start()]
            gaps.append([len(data), int(m.group(1))])
            at = m.end()
        data += raw[at:]
        dirs.append({'from': nodes[side], 'len': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'gaps': gaps})
    return dirs


def main():
    here = Path(__file__).parent
    for cap in sorted(p for p in here.iterdir() if p.suffix in ('.pcap', '.cap', '.pcapng')):
        ids = subprocess.run(TSHARK + ['-r', str(cap), '-T', 'fields', '-e', 'tcp.stream'],
                             capture_output=True, text=True, check=True).stdout.split()
        streams = [follow(cap, s) for s in sorted({int(i) for i in ids if i})]
        (here / (cap.name + '.follow.json')).write_text(json.dumps({'tshark': 'follow,tcp,raw', 'streams': streams}, indent=1) + '\n')
        print(cap.name, len(streams), 'streams', file=sys.stderr)


main()
