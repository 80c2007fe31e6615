package e2e

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// startUDPEcho answers every datagram with id, on a loopback port.
func startUDPEcho(t *testing.T, id string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(id), from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// A UDPRoute through a real Envoy with its policy's loadBalancer applied:
// with a SourceIP consistent hash every client socket (one source address,
// many source ports) reaches the same of two echo endpoints; with
// RoundRobin the sockets spread over both.
func TestUDPRoute(t *testing.T) {
	ports := []int{startUDPEcho(t, "a"), startUDPEcho(t, "b")}
	for _, tc := range []struct {
		lb       string
		distinct int // endpoints that answer 12 sockets
	}{
		{"ConsistentHash", 1},
		{"RoundRobin", 2},
	} {
		t.Run(tc.lb, func(t *testing.T) {
			v := harness.NewVars(t, nil)
			v.Values = map[string]any{"echoPorts": ports, "lbType": tc.lb}
			boot := harness.Render(t, harness.Execute(t, "testdata/udproute.yaml.tmpl", v), v.AdminPort)
			assertLoopbackOnly(t, boot)
			envoy := harness.StartEnvoy(t, boot, v.AdminPort)
			envoy.WaitStat(t, "listener_manager.total_listeners_active", 5*time.Second, func(n int64) bool { return n >= 1 })
			seen := map[string]int{}
			for i := 0; i < 12; i++ {
				id := udpAsk(t, v.Port)
				if id == "" {
					t.Fatalf("socket %d: no answer through Envoy's UDP listener", i)
				}
				seen[id]++
			}
			if len(seen) != tc.distinct {
				t.Errorf("%s: 12 client sockets reached %v, want %d distinct endpoint(s)", tc.lb, seen, tc.distinct)
			}
		})
	}
}

// udpAsk sends one datagram from a fresh socket to Envoy and returns the
// answer ("" when none comes within the bounded retries).
func udpAsk(t *testing.T, port int) string {
	t.Helper()
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for try := 0; try < 5; try++ {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	return ""
}
