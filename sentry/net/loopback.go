package net

import (
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// loopbackMTU is Linux's loopback MTU.
const loopbackMTU = 65536

// loopback is the driver of "lo": transmitting a packet is receiving it on
// the same CPU (loopback_xmit → netif_rx). The inbound packet shares the
// outbound one's buffer (no copy); the outbound one is completed by NET_TX
// as any transmitted packet.
type loopback struct{}

func (loopback) transmit(sn *softnet, pkts []*stack.PacketBuffer, ents []entry) int {
	for i, pkt := range pkts {
		in := pkt.CloneToInbound()
		sn.enqueueBacklog(entry{dev: ents[i].dev, proto: ents[i].proto, pkt: in})
	}
	return len(pkts)
}

func (loopback) close() {}
