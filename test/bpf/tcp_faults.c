// Test-only fault injection for the TCP health tests (test/integration/tcp-faults.test.ts): tc clsact
// programs for a namespace's side of a veth. This kernel has neither netem nor fq, so loss is made
// here. Built by test/bpf/build.sh; the .o is committed (CI needs no clang).
//
//   SEC("tc/drop5")  drops about 5 % of IPv4 TCP segments that carry payload (bpf_get_prandom_u32),
//                    never SYN/FIN/RST or pure ACKs, so connects stay clean and every loss is data
//                    the sender must send again

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6

static __always_inline int payload_len(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	unsigned char *p = data;
	if (data + ETH_HLEN + 20 + 20 > end) return -1;
	if (bpf_ntohs(*(__u16 *)(p + 12)) != ETH_P_IP) return -1;
	unsigned char *ip = p + ETH_HLEN;
	if (ip[9] != IPPROTO_TCP) return -1;
	int ihl = (ip[0] & 0x0f) * 4;
	if (ihl < 20 || ip + ihl + 20 > (unsigned char *)end) return -1;
	int tot = bpf_ntohs(*(__u16 *)(ip + 2));
	unsigned char *tcp = ip + ihl;
	int doff = (tcp[12] >> 4) * 4;
	if (tcp[13] & 0x07) return -1; /* FIN, SYN, RST */
	return tot - ihl - doff;
}

SEC("tc/drop5")
int drop5(struct __sk_buff *skb)
{
	if (payload_len(skb) > 0 && bpf_get_prandom_u32() % 100 < 5) return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
