package net

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	gonet "net"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runsc-lite/runsc-lite/kernel"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// vethNetns creates a network namespace and a veth pair: hostIf (in the
// test's namespace, hostAddr) and the other end (in the new namespace,
// nsAddr, named eth0). It returns the namespace's path; cleanup removes
// both. It skips the test when it cannot (not root, no ip).
func vethNetns(t *testing.T, hostAddr, nsAddr string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating network namespaces needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is not installed")
	}
	name := fmt.Sprintf("rl%d", os.Getpid()%100000)
	hostIf := "v" + name
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", name).Run()
	exec.Command("ip", "link", "del", hostIf).Run()
	run("netns", "add", name)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostIf).Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	run("link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", name)
	run("addr", "add", hostAddr, "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("-n", name, "addr", "add", nsAddr, "dev", "eth0")
	run("-n", name, "link", "set", "eth0", "up")
	run("-n", name, "link", "set", "lo", "up")
	return "/var/run/netns/" + name
}

// TestTakeOver is --network=sandbox in miniature: the stack takes over a
// namespace's veth end (10.99.0.2/24); a server in the sandbox's stack is
// reached from the host end, and a host server from the sandbox.
func TestTakeOver(t *testing.T) {
	ns := vethNetns(t, "10.99.0.1/24", "10.99.0.2/24")
	k, _, s := bootStack(t, 2)
	links, err := s.TakeOver(ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Name != "eth0" {
		t.Fatalf("took over %+v, want eth0", links)
	}
	d := s.DeviceByName("eth0")
	if d == nil || d.MTU() != 1500 || len(d.HardwareAddr()) != 6 {
		t.Fatalf("device eth0: %+v", d)
	}
	// The address left the host interface.
	out, _ := exec.Command("ip", "netns", "exec", ns[len("/var/run/netns/"):], "ip", "-4", "addr", "show", "eth0").CombinedOutput()
	if strings.Contains(string(out), "10.99.0.2") {
		t.Errorf("10.99.0.2 is still on the host interface:\n%s", out)
	}
	sandboxAddr := tcpip.AddrFrom4([4]byte{10, 99, 0, 2})
	msg := bytes.Repeat([]byte("sandbox network "), 20000)

	// A server in the sandbox, reached from the host.
	var lq waiter.Queue
	lep, terr := s.TCPIP().NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &lq)
	if terr != nil {
		t.Fatal(terr)
	}
	defer lep.Close()
	if terr := lep.Bind(tcpip.FullAddress{Addr: sandboxAddr, Port: 8080}); terr != nil {
		t.Fatal(terr)
	}
	lep.Listen(1)
	server := spawn(k, "server", -1, func(tk *kernel.Task) {
		var ep tcpip.Endpoint
		var wq *waiter.Queue
		waitFor(tk, &lq, waiter.ReadableEvents, func() bool {
			var err tcpip.Error
			ep, wq, err = lep.Accept(nil)
			return err == nil
		})
		defer ep.Close()
		var got bytes.Buffer
		eof := false
		for !eof && got.Len() < len(msg) {
			waitFor(tk, wq, waiter.ReadableEvents|waiter.EventHUp, func() bool {
				s.Enter(tk, nil)
				_, err := ep.Read(&got, tcpip.ReadOptions{})
				s.Exit(tk)
				_, eof = err.(*tcpip.ErrClosedForReceive)
				return err == nil || eof
			})
		}
		off := 0
		for off < got.Len() {
			waitFor(tk, wq, waiter.WritableEvents, func() bool {
				var r bytes.Reader
				r.Reset(got.Bytes()[off:])
				s.Enter(tk, nil)
				n, err := ep.Write(&r, tcpip.WriteOptions{})
				s.Exit(tk)
				off += int(n)
				return err == nil
			})
		}
	})
	c, err := gonet.DialTimeout("tcp", "10.99.0.2:8080", 10*time.Second)
	if err != nil {
		st := s.TCPIP().Stats()
		t.Fatalf("host → sandbox: %v; eth0 %+v; ARP rx requests %d replies sent %d; IP received %d; tcp csum %d invalid %d valid %d; ip malformed %d baddst %d delivered %d",
			err, d.Stats(), st.ARP.RequestsReceived.Value(), st.ARP.OutgoingRepliesSent.Value(), st.IP.PacketsReceived.Value(), st.TCP.ChecksumErrors.Value(), st.TCP.InvalidSegmentsReceived.Value(), st.TCP.ValidSegmentsReceived.Value(), st.IP.MalformedPacketsReceived.Value(), st.IP.InvalidDestinationAddressesReceived.Value(), st.IP.PacketsDelivered.Value())
	}
	go c.Write(msg)
	echo := make([]byte, len(msg))
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, echo); err != nil || !bytes.Equal(echo, msg) {
		t.Errorf("host → sandbox echo: %v", err)
	}
	c.Close()
	join(t, server, 30*time.Second)

	// A host server, reached from the sandbox.
	l, err := gonet.Listen("tcp", "10.99.0.1:8081")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var cq waiter.Queue
	cep, terr := s.TCPIP().NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &cq)
	if terr != nil {
		t.Fatal(terr)
	}
	client := spawn(k, "client", -1, func(tk *kernel.Task) {
		defer cep.Close()
		s.Enter(tk, nil)
		cep.Connect(tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{10, 99, 0, 1}), Port: 8081})
		s.Exit(tk)
		waitFor(tk, &cq, waiter.WritableEvents|waiter.EventErr, func() bool {
			return cep.Readiness(waiter.WritableEvents|waiter.EventErr) != 0
		})
		if err := cep.LastError(); err != nil {
			t.Errorf("sandbox → host connect: %v", err)
			return
		}
		var r bytes.Reader
		r.Reset(msg[:1000])
		s.Enter(tk, nil)
		cep.Write(&r, tcpip.WriteOptions{})
		s.Exit(tk)
		var got bytes.Buffer
		for got.Len() < 1000 {
			waitFor(tk, &cq, waiter.ReadableEvents|waiter.EventHUp, func() bool {
				s.Enter(tk, nil)
				_, err := cep.Read(&got, tcpip.ReadOptions{})
				s.Exit(tk)
				return err == nil
			})
		}
		if !bytes.Equal(got.Bytes(), msg[:1000]) {
			t.Errorf("sandbox → host echo differs")
		}
	})
	join(t, client, 30*time.Second)
	st := d.Stats()
	if st.RxPackets == 0 || st.TxPackets == 0 {
		t.Errorf("eth0 counters did not move: %+v", st)
	}
}

// TestTakenLinkJSON: a prepared link crosses the control socket as JSON
// (the OCI CLI prepares, the sentry adopts) with its MAC intact: raw
// bytes in a JSON string came out as U+FFFD replacement characters.
func TestTakenLinkJSON(t *testing.T) {
	in := TakenLink{Link: HostLink{Index: 131, Name: "eth0", Flags: 0x1043, MTU: 1500, MAC: tcpip.LinkAddress([]byte{0x02, 0x42, 0x0a, 0xd5, 0xff, 0x80}), Qdisc: "noqueue", ARPType: 1}, FD: 7}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out TakenLink
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	in.FD = 0 // not on the wire
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip of %s:\n got %+v\nwant %+v", data, out, in)
	}
}
