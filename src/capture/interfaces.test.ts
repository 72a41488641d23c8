// Interface listing without root: link types by ARPHRD, lo present and Ethernet-framed. The veth
// cases (created, deleted, watched) are in test/integration/live-iface.test.ts.

import { describe, expect, it } from 'vitest'
import { Arphrd, findInterface, linkTypeOf, listInterfaces } from './interfaces.js'
import { LinkType } from './source.js'

describe('interfaces', () => {
  it('maps ARPHRD types to the link type a packet socket delivers', () => {
    expect(linkTypeOf(Arphrd.ETHER)).toBe(LinkType.ETHERNET)
    expect(linkTypeOf(Arphrd.LOOPBACK)).toBe(LinkType.ETHERNET)
    expect(linkTypeOf(Arphrd.NONE)).toBe(LinkType.RAW)
    expect(linkTypeOf(32)).toBeNull() // ARPHRD_INFINIBAND: not decodable
  })

  it('lists lo with ifindex 1 and finds it by name and by index', () => {
    const lo = listInterfaces().find((i) => i.name === 'lo')
    expect(lo).toMatchObject({ ifindex: 1, arphrd: Arphrd.LOOPBACK, linkType: LinkType.ETHERNET, isVeth: false })
    expect(findInterface('lo')?.ifindex).toBe(1)
    expect(findInterface(1)?.name).toBe('lo')
    expect(findInterface('nosuchif0')).toBeUndefined()
    expect(findInterface(0x7fffffff)).toBeUndefined()
  })
})
