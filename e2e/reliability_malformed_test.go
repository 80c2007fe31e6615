package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Probe 4: broken HTTP/1 and HTTP/2 at the listener over raw TCP, by class
// and a seeded random set. For each, Envoy answers or closes the
// connection (at the latest once the client half-closes); it never crashes,
// and the module's counters stay consistent with Envoy's own request count.
func TestReliabilityMalformed(t *testing.T) {
	r := relProxy(t)
	cases := append(malformedHTTP1(), malformedHTTP2()...)
	classes := len(cases)
	rng := rand.New(rand.NewPCG(13, 4))
	for i := range scale(120, 2400) {
		if i%2 == 0 {
			cases = append(cases, malformedCase{name: fmt.Sprintf("random h1 %d", i), data: randomHTTP1(rng)})
		} else {
			cases = append(cases, malformedCase{name: fmt.Sprintf("random h2 %d", i), data: randomHTTP2(rng)})
		}
	}

	type result struct{ name, outcome string }
	results := make([]result, len(cases))
	work := make(chan int)
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Duration(scale(60, 600)) * time.Second)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if time.Now().After(deadline) {
					results[i] = result{cases[i].name, "not run: deadline"}
					continue
				}
				results[i] = result{cases[i].name, sendRaw(r.addr(), cases[i].data)}
			}
		}()
	}
	for i := range cases {
		work <- i
	}
	close(work)
	wg.Wait()

	tally := map[string]int{}
	for i, res := range results {
		kind, _, _ := strings.Cut(res.outcome, ":")
		kind, _, _ = strings.Cut(kind, " (")
		tally[kind]++
		if kind != "answered" && kind != "closed" {
			t.Errorf("%s: %s", res.name, res.outcome)
		}
		if want := cases[i].want; want != "" && !strings.HasPrefix(res.outcome, want) {
			t.Errorf("%s: %s, want %s", res.name, res.outcome, want)
		}
	}
	st := r.Envoy.Stats(t)
	figure(t, "%d classes + %d random: outcomes %v; Envoy counted %d requests, %d 4xx, %d protocol errors; btp ok %d over_limit %d too_large %d panics %d",
		classes, len(cases)-classes, tally, st["http.main.downstream_rq_total"], st["http.main.downstream_rq_4xx"],
		st["http.main.downstream_cx_protocol_error"], st["btp.ratelimit.ok"], st["btp.ratelimit.over_limit"], st["btp.buffer.too_large"], st["btp.panics"])
	if testing.Verbose() {
		for _, res := range results[:classes] {
			t.Logf("class %-45s %s", res.name, res.outcome)
		}
	}
	// The module decides only on requests Envoy parsed: its counters can
	// never exceed Envoy's request count.
	decided := st["btp.ratelimit.ok"] + st["btp.ratelimit.over_limit"] + st["btp.ratelimit.shadow"]
	if total := st["http.main.downstream_rq_total"]; decided > total || st["btp.buffer.too_large"] > total {
		t.Errorf("module counters (%d rate-limit decisions, %d too large) exceed Envoy's %d requests", decided, st["btp.buffer.too_large"], total)
	}
	// Only the two "panic header" classes carry debug.panicHeader.
	if st["btp.panics"] != 2 {
		t.Errorf("btp.panics = %d, want 2 (the panic header classes)", st["btp.panics"])
	}
	alive(t, r.Envoy, r.URL("/side"))
}

type malformedCase struct {
	name string
	data []byte
	// want, if set, is the outcome the class must have (a prefix).
	want string
}

// sendRaw writes data on a fresh connection and reports what Envoy did:
// "answered: <status line>", "closed" (without an answer), or a failure:
// Envoy still holding the connection after the client's half-close.
func sendRaw(addr string, data []byte) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(data) // Envoy may close before it has read everything
	got := readFor(c, 500*time.Millisecond)
	if !got.eof {
		// Incomplete input: Envoy may wait for more. Once the client
		// half-closes it must answer or close.
		c.(*net.TCPConn).CloseWrite()
		more := readFor(c, 5*time.Second)
		got.data = append(got.data, more.data...)
		got.eof, got.reset = more.eof, more.reset
	}
	if !got.eof {
		return fmt.Sprintf("held: neither answered nor closed 5s after the client's FIN (%d bytes read)", len(got.data))
	}
	how := "closed"
	if got.reset {
		how = "closed (reset)"
	}
	if bytes.HasPrefix(got.data, []byte("HTTP/1.")) {
		line, _, _ := bytes.Cut(got.data, []byte("\r\n"))
		return "answered: " + string(line)
	}
	if h2 := h2Answer(got.data); h2 != "" {
		return "answered: HTTP/2 " + h2
	}
	return how
}

// h2Answer summarises the server's HTTP/2 frames: the :status of each
// response and the GOAWAY or RST_STREAM codes ("" if there are none: the
// server's SETTINGS alone is no answer).
func h2Answer(data []byte) string {
	fr := http2.NewFramer(io.Discard, bytes.NewReader(data))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var parts []string
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			parts = append(parts, ":status "+f.PseudoValue("status"))
		case *http2.GoAwayFrame:
			parts = append(parts, "GOAWAY "+f.ErrCode.String())
		case *http2.RSTStreamFrame:
			parts = append(parts, "RST_STREAM "+f.ErrCode.String())
		}
	}
	if len(parts) > 4 {
		parts = append(parts[:4], fmt.Sprintf("and %d more", len(parts)-4))
	}
	return strings.Join(parts, ", ")
}

type readResult struct {
	data       []byte
	eof, reset bool
}

func readFor(c net.Conn, d time.Duration) readResult {
	c.SetReadDeadline(time.Now().Add(d))
	var out readResult
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if len(out.data) < 1<<20 {
			out.data = append(out.data, buf[:n]...)
		}
		if err != nil {
			// A reset closes too (Envoy closing with our bytes unread);
			// the kernel then drops what it had received.
			out.eof = !isTimeout(err)
			out.reset = errors.Is(err, syscall.ECONNRESET)
			return out
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// malformedHTTP1 is one case per class of broken HTTP/1.1.
func malformedHTTP1() []malformedCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	req := func(s string) []byte { return []byte(s) }
	cs := []malformedCase{
		{"h1 empty lines", req("\r\n\r\n\r\n\r\n"), ""},
		{"h1 binary garbage", []byte{0, 1, 2, 3, 0xff, 0xfe, 0x80, 0x7f, '\r', '\n', '\r', '\n'}, ""},
		{"h1 no version", req("GET /\r\n\r\n"), ""},
		{"h1 HTTP/0.9", req("GET /\r\n"), ""},
		{"h1 unknown version", req("GET / HTTP/9.9\r\nHost: rel\r\n\r\n"), ""},
		{"h1 version garbage", req("GET / HTTX/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 lowercase method", req("get / HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 unknown method", req("BREW / HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 method with tab", req("GE\tT / HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 64 KiB method", req(long(64<<10) + " / HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 200 KiB path", req("GET /" + long(200<<10) + " HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 extra spaces in request line", req("GET  /  HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 path without slash", req("GET side HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 absolute URI", req("GET http://rel/side HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 authority form GET", req("GET rel:80 HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 asterisk OPTIONS", req("OPTIONS * HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 CONNECT loopback", req("CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"), ""},
		{"h1 dot segments", req("GET /../../../etc/passwd HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 %00 in path", req("GET /side%00x HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 high bytes in path", req("GET /\xff\xfe\x80 HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 fragment in path", req("GET /side#frag HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 bad percent encoding", req("GET /%zz%4 HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 no Host", req("GET /side HTTP/1.1\r\n\r\n"), ""},
		{"h1 two Hosts", req("GET /side HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), ""},
		{"h1 Host with spaces", req("GET /side HTTP/1.1\r\nHost: a b c\r\n\r\n"), ""},
		{"h1 header without colon", req("GET / HTTP/1.1\r\nHost: rel\r\nnocolon\r\n\r\n"), ""},
		{"h1 header name with space", req("GET / HTTP/1.1\r\nHost: rel\r\nx key: a\r\n\r\n"), ""},
		{"h1 empty header name", req("GET / HTTP/1.1\r\nHost: rel\r\n: a\r\n\r\n"), ""},
		{"h1 NUL in header value", req("GET / HTTP/1.1\r\nHost: rel\r\nx-key: a\x00b\r\n\r\n"), ""},
		{"h1 NUL in header name", req("GET / HTTP/1.1\r\nHost: rel\r\nx-k\x00ey: a\r\n\r\n"), ""},
		{"h1 bare CR in value", req("GET / HTTP/1.1\r\nHost: rel\r\nx-key: a\rb\r\n\r\n"), ""},
		{"h1 bare LF line ends", req("GET / HTTP/1.1\nHost: rel\nx-key: a\n\n"), ""},
		{"h1 obs-fold", req("GET / HTTP/1.1\r\nHost: rel\r\nx-key: a\r\n folded\r\n\r\n"), ""},
		{"h1 high bytes in Distinct key", req("GET /flood/header HTTP/1.1\r\nHost: rel\r\nx-key: \xff\xfe\x80\xc3\x28\r\n\r\n"), ""},
		{"h1 60 KiB Distinct key", req("GET /flood/header HTTP/1.1\r\nHost: rel\r\nx-key: " + long(60<<10) + "\r\n\r\n"), ""},
		{"h1 100 KiB header", req("GET / HTTP/1.1\r\nHost: rel\r\nx-big: " + long(100<<10) + "\r\n\r\n"), ""},
		{"h1 200 headers", req("GET / HTTP/1.1\r\nHost: rel\r\n" + strings.Repeat("x-a: b\r\n", 200) + "\r\n"), ""},
		{"h1 conflicting Content-Length", req("POST / HTTP/1.1\r\nHost: rel\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), ""},
		{"h1 negative Content-Length", req("POST / HTTP/1.1\r\nHost: rel\r\nContent-Length: -1\r\n\r\n"), ""},
		{"h1 non-numeric Content-Length", req("POST / HTTP/1.1\r\nHost: rel\r\nContent-Length: abc\r\n\r\n"), ""},
		{"h1 Content-Length with plus", req("POST / HTTP/1.1\r\nHost: rel\r\nContent-Length: +5\r\n\r\nhello"), ""},
		{"h1 Content-Length two numbers", req("POST / HTTP/1.1\r\nHost: rel\r\nContent-Length: 5 5\r\n\r\nhello"), ""},
		// Over requestBuffer's limit: refused when the headers arrive.
		{"h1 Content-Length 2^63", req("POST /body HTTP/1.1\r\nHost: rel\r\nContent-Length: 9223372036854775808\r\n\r\nabc"), "answered: HTTP/1.1 413"},
		{"h1 Content-Length 2^63-1", req("POST /body HTTP/1.1\r\nHost: rel\r\nContent-Length: 9223372036854775807\r\n\r\nabc"), "answered: HTTP/1.1 413"},
		{"h1 Content-Length 2^64", req("POST /body HTTP/1.1\r\nHost: rel\r\nContent-Length: 18446744073709551616\r\n\r\nabc"), ""},
		{"h1 Content-Length 40 digits", req("POST /body HTTP/1.1\r\nHost: rel\r\nContent-Length: 1234567890123456789012345678901234567890\r\n\r\n"), ""},
		{"h1 Content-Length over limit, body cut", req("POST /body HTTP/1.1\r\nHost: rel\r\nContent-Length: 2000000\r\n\r\n" + long(70000)), ""},
		{"h1 Content-Length and chunked", req("POST / HTTP/1.1\r\nHost: rel\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), ""},
		{"h1 bad chunk size", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"), ""},
		{"h1 chunk size overflow", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), ""},
		{"h1 chunk missing CRLF", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef0\r\n\r\n"), ""},
		{"h1 chunk extension", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\n3;" + long(9000) + "\r\nabc\r\n0\r\n\r\n"), ""},
		{"h1 chunked without terminator", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"), ""},
		{"h1 chunked over limit", req("POST /body HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("8000\r\n"+long(0x8000)+"\r\n", 40) + "0\r\n\r\n"), ""},
		{"h1 bad trailer", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n"), ""},
		{"h1 gzip, chunked", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), ""},
		{"h1 chunked, gzip", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), ""},
		{"h1 xchunked", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"), ""},
		{"h1 identity", req("POST / HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: identity\r\n\r\n"), ""},
		{"h1 smuggled second request", req("POST / HTTP/1.1\r\nHost: rel\r\nContent-Length: 0\r\n\r\nGET /x HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\n"), ""},
		{"h1 GET with body", req("GET / HTTP/1.1\r\nHost: rel\r\nContent-Length: 10\r\n\r\n0123456789"), ""},
		{"h1 Expect 100-continue, no body", req("POST / HTTP/1.1\r\nHost: rel\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"), ""},
		{"h1 Expect garbage", req("POST / HTTP/1.1\r\nHost: rel\r\nExpect: teapot\r\nContent-Length: 0\r\n\r\n"), ""},
		{"h1 Upgrade h2c with bad settings", req("GET / HTTP/1.1\r\nHost: rel\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: !!!\r\n\r\n"), ""},
		{"h1 Upgrade websocket", req("GET / HTTP/1.1\r\nHost: rel\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x\r\n\r\n"), ""},
		{"h1 1000 empty lines first", req(strings.Repeat("\r\n", 1000) + "GET / HTTP/1.1\r\nHost: rel\r\n\r\n"), ""},
		{"h1 request line ends in CR", req("GET / HTTP/1.1\r"), ""},
		{"h1 truncated headers", req("GET / HTTP/1.1\r\nHost: rel\r\nx-key: a"), ""},
		{"h1 panic header", req("GET /panic HTTP/1.1\r\nHost: rel\r\nx-btp-panic: \r\n\r\n"), ""},
	}
	return cs
}

// h2conn builds an HTTP/2 client byte stream: the preface, SETTINGS, then
// whatever frames f writes.
func h2conn(f func(fr *http2.Framer, enc func(fields ...string) []byte)) []byte {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	fr.AllowIllegalWrites = true
	fr.WriteSettings()
	enc := func(fields ...string) []byte {
		var hb bytes.Buffer
		e := hpack.NewEncoder(&hb)
		for i := 0; i+1 < len(fields); i += 2 {
			e.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return hb.Bytes()
	}
	f(fr, enc)
	return buf.Bytes()
}

var h2get = []string{":method", "GET", ":scheme", "http", ":authority", "rel", ":path", "/side"}

func h2with(extra ...string) []string { return append(append([]string(nil), h2get...), extra...) }

// malformedHTTP2 is one case per class of broken HTTP/2 (prior knowledge).
func malformedHTTP2() []malformedCase {
	hdrs := func(fr *http2.Framer, stream uint32, block []byte, end bool) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block, EndHeaders: true, EndStream: end})
	}
	raw := func(fr *http2.Framer, typ http2.FrameType, flags http2.Flags, stream uint32, payload []byte) {
		fr.WriteRawFrame(typ, flags, stream, payload)
	}
	c := func(name string, f func(fr *http2.Framer, enc func(...string) []byte)) malformedCase {
		return malformedCase{name: "h2 " + name, data: h2conn(f)}
	}
	return []malformedCase{
		{"h2 preface only", []byte(http2.ClientPreface), ""},
		{"h2 bad preface", []byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), ""},
		c("SETTINGS length 5", func(fr *http2.Framer, _ func(...string) []byte) {
			raw(fr, http2.FrameSettings, 0, 0, []byte{0, 1, 0, 0, 0})
		}),
		c("SETTINGS ACK with payload", func(fr *http2.Framer, _ func(...string) []byte) {
			raw(fr, http2.FrameSettings, http2.FlagSettingsAck, 0, []byte{0, 1, 0, 0, 0, 1})
		}),
		c("SETTINGS on a stream", func(fr *http2.Framer, _ func(...string) []byte) { raw(fr, http2.FrameSettings, 0, 1, nil) }),
		c("initial window over 2^31-1", func(fr *http2.Framer, _ func(...string) []byte) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}),
		c("max frame size too small", func(fr *http2.Framer, _ func(...string) []byte) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 100})
		}),
		c("enable push 2", func(fr *http2.Framer, _ func(...string) []byte) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2})
		}),
		c("HEADERS on stream 0", func(fr *http2.Framer, enc func(...string) []byte) { hdrs(fr, 0, enc(h2get...), true) }),
		c("HEADERS on even stream", func(fr *http2.Framer, enc func(...string) []byte) { hdrs(fr, 2, enc(h2get...), true) }),
		c("HPACK garbage", func(fr *http2.Framer, _ func(...string) []byte) {
			hdrs(fr, 1, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, true)
		}),
		c("HPACK index out of range", func(fr *http2.Framer, _ func(...string) []byte) { hdrs(fr, 1, []byte{0xfe}, true) }),
		c("missing :path", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "GET", ":scheme", "http", ":authority", "rel"), true)
		}),
		c("missing :method", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":scheme", "http", ":authority", "rel", ":path", "/"), true)
		}),
		c("uppercase header name", func(fr *http2.Framer, enc func(...string) []byte) { hdrs(fr, 1, enc(h2with("X-Key", "a")...), true) }),
		c("pseudo header after regular", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "GET", "x-key", "a", ":scheme", "http", ":authority", "rel", ":path", "/"), true)
		}),
		c("connection header", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(h2with("connection", "keep-alive")...), true)
		}),
		c("te gzip", func(fr *http2.Framer, enc func(...string) []byte) { hdrs(fr, 1, enc(h2with("te", "gzip")...), true) }),
		c("duplicate :path", func(fr *http2.Framer, enc func(...string) []byte) { hdrs(fr, 1, enc(h2with(":path", "/x")...), true) }),
		c("unknown pseudo header", func(fr *http2.Framer, enc func(...string) []byte) { hdrs(fr, 1, enc(h2with(":foo", "bar")...), true) }),
		c("NUL in header value", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(h2with("x-key", "a\x00b")...), true)
		}),
		c("space in header name", func(fr *http2.Framer, enc func(...string) []byte) { hdrs(fr, 1, enc(h2with("x key", "a")...), true) }),
		c("high bytes in Distinct key", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "GET", ":scheme", "http", ":authority", "rel", ":path", "/flood/header", "x-key", "\xff\xfe\x80"), true)
		}),
		c("content-length 5 with 10 bytes", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "POST", ":scheme", "http", ":authority", "rel", ":path", "/", "content-length", "5"), false)
			fr.WriteData(1, true, []byte("0123456789"))
		}),
		c("content-length 2^63", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "POST", ":scheme", "http", ":authority", "rel", ":path", "/body", "content-length", "9223372036854775808"), false)
			fr.WriteData(1, true, []byte("abc"))
		}),
		c("body over the limit", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "POST", ":scheme", "http", ":authority", "rel", ":path", "/body"), false)
			chunk := bytes.Repeat([]byte("d"), 16384)
			for range 50 {
				fr.WriteData(1, false, chunk)
			}
			fr.WriteData(1, true, nil)
		}),
		c("DATA on stream 0", func(fr *http2.Framer, _ func(...string) []byte) { raw(fr, http2.FrameData, 0, 0, []byte("x")) }),
		c("DATA on idle stream", func(fr *http2.Framer, _ func(...string) []byte) { fr.WriteData(5, true, []byte("x")) }),
		c("CONTINUATION without HEADERS", func(fr *http2.Framer, enc func(...string) []byte) {
			fr.WriteContinuation(1, true, enc(h2get...))
		}),
		c("HEADERS without END_HEADERS, then DATA", func(fr *http2.Framer, enc func(...string) []byte) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(h2get...)})
			fr.WriteData(1, true, []byte("x"))
		}),
		c("CONTINUATION flood", func(fr *http2.Framer, enc func(...string) []byte) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(h2get...)})
			block := enc("x-a", strings.Repeat("b", 8000))
			for range 200 {
				fr.WriteContinuation(1, false, block)
			}
		}),
		c("WINDOW_UPDATE 0", func(fr *http2.Framer, _ func(...string) []byte) { fr.WriteWindowUpdate(0, 0) }),
		c("WINDOW_UPDATE overflow", func(fr *http2.Framer, _ func(...string) []byte) {
			fr.WriteWindowUpdate(0, 1<<31-1)
			fr.WriteWindowUpdate(0, 1<<31-1)
		}),
		c("PRIORITY on itself", func(fr *http2.Framer, _ func(...string) []byte) {
			fr.WritePriority(1, http2.PriorityParam{StreamDep: 1, Weight: 10})
		}),
		c("RST_STREAM on idle stream", func(fr *http2.Framer, _ func(...string) []byte) { fr.WriteRSTStream(7, http2.ErrCodeCancel) }),
		c("rapid reset", func(fr *http2.Framer, enc func(...string) []byte) {
			for i := range uint32(500) {
				hdrs(fr, 2*i+1, enc(h2get...), true)
				fr.WriteRSTStream(2*i+1, http2.ErrCodeCancel)
			}
		}),
		c("PING flood", func(fr *http2.Framer, _ func(...string) []byte) {
			for range 5000 {
				fr.WritePing(false, [8]byte{1})
			}
		}),
		c("SETTINGS flood", func(fr *http2.Framer, _ func(...string) []byte) {
			for range 5000 {
				fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 4096})
			}
		}),
		c("frame over max size", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "POST", ":scheme", "http", ":authority", "rel", ":path", "/"), false)
			raw(fr, http2.FrameData, 0, 1, bytes.Repeat([]byte("e"), 16385))
		}),
		c("HEADERS after GOAWAY", func(fr *http2.Framer, enc func(...string) []byte) {
			fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			hdrs(fr, 1, enc(h2get...), true)
		}),
		c("unknown frame type", func(fr *http2.Framer, _ func(...string) []byte) { raw(fr, 0xfa, 0xff, 3, []byte("???")) }),
		c("PUSH_PROMISE from client", func(fr *http2.Framer, enc func(...string) []byte) {
			fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: enc(h2get...), EndHeaders: true})
		}),
		c("stream ids going down", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 5, enc(h2get...), true)
			hdrs(fr, 3, enc(h2get...), true)
		}),
		c("padding longer than frame", func(fr *http2.Framer, _ func(...string) []byte) {
			raw(fr, http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders, 1, []byte{200, 0x82})
		}),
		c("panic header", func(fr *http2.Framer, enc func(...string) []byte) {
			hdrs(fr, 1, enc(":method", "GET", ":scheme", "http", ":authority", "rel", ":path", "/panic", "x-btp-panic", "1"), true)
		}),
	}
}

// interesting are bytes that break parsers.
var interesting = []byte{0, '\r', '\n', ' ', '\t', ':', ';', ',', '%', 0x7f, 0x80, 0xff, '0', '9', 'f'}

var h1Bases = []string{
	"GET /flood/header HTTP/1.1\r\nHost: rel\r\nx-key: random\r\n\r\n",
	"POST /body HTTP/1.1\r\nHost: rel\r\nContent-Length: 11\r\n\r\nhello world",
	"POST /slow HTTP/1.1\r\nHost: rel\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"GET /side?x=1&y=%41 HTTP/1.1\r\nHost: rel\r\nCookie: a=b\r\nx-key: k\r\n\r\n",
}

// randomHTTP1 mutates a valid request 1-8 times: flip, insert, delete,
// duplicate or truncate.
func randomHTTP1(rng *rand.Rand) []byte {
	b := []byte(h1Bases[rng.IntN(len(h1Bases))])
	for range 1 + rng.IntN(8) {
		if len(b) == 0 {
			break
		}
		i := rng.IntN(len(b))
		switch rng.IntN(5) {
		case 0:
			b[i] ^= byte(1 << rng.IntN(8))
		case 1:
			b = append(b[:i], append([]byte{interesting[rng.IntN(len(interesting))]}, b[i:]...)...)
		case 2:
			j := min(len(b), i+1+rng.IntN(8))
			b = append(b[:i], b[j:]...)
		case 3:
			j := min(len(b), i+1+rng.IntN(16))
			b = append(b[:j], append(append([]byte(nil), b[i:j]...), b[j:]...)...)
		case 4:
			b = b[:i]
		}
	}
	return b
}

// randomHTTP2 sends 1-6 frames of random type, flags, stream and payload
// (a valid or mutated header block for HEADERS) after the preface.
func randomHTTP2(rng *rand.Rand) []byte {
	return h2conn(func(fr *http2.Framer, enc func(...string) []byte) {
		for range 1 + rng.IntN(6) {
			typ := http2.FrameType(rng.IntN(11))
			stream := uint32(rng.IntN(8))
			var payload []byte
			if typ == http2.FrameHeaders || typ == http2.FrameContinuation {
				payload = enc(h2with("x-key", fmt.Sprint(rng.IntN(100)))...)
				if rng.IntN(2) == 0 && len(payload) > 0 {
					payload[rng.IntN(len(payload))] ^= byte(1 << rng.IntN(8))
				}
			} else {
				payload = make([]byte, rng.IntN(24))
				for i := range payload {
					payload[i] = byte(rng.Uint32())
				}
			}
			fr.WriteRawFrame(typ, http2.Flags(rng.IntN(256)), stream, payload)
		}
	})
}
