package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawPost sends one HTTP/1.1 POST with the given Content-Length and no
// body and returns the status and body Envoy answers within 2s (status 0:
// none, Envoy is waiting for the body).
func rawPost(t *testing.T, port int, path, length string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n", path, length)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// h2Status sends one HTTP/2 (prior knowledge, h2c) POST with the given
// content-length and no body and returns the :status Envoy answers within
// 2s (0: none; -1: the stream was reset).
func h2Status(t *testing.T, port int, path, length string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", path}, {"content-length", length}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, hf := range fields {
				if hf.Name == ":status" {
					n, _ := strconv.Atoi(hf.Value)
					return n
				}
			}
		case *http2.RSTStreamFrame:
			return -1
		case *http2.GoAwayFrame:
			return -1
		}
	}
}

// A Content-Length the buffer limit cannot hold is refused at headers
// time, without waiting for a body. What reaches the filter in Envoy 1.40:
// over HTTP/1, values up to 2^64-1 (2^63 and up used to wait for the body,
// the old check parsed an int64); Envoy's codec answers 400 itself to 2^64
// and up and to anything that is no decimal number. Over HTTP/2, nghttp2
// resets the stream for every value of 2^63 and up or not a number
// (http2.rx_messaging_error) before the filter sees it.
func TestContentLengthAtHeaders(t *testing.T) {
	p := filterProxy(t)
	be := p.Backends[0]
	for _, v := range []string{"2048", "9223372036854775808", "18446744073709551615"} {
		before := p.Envoy.Stat(t, "btp.buffer.too_large")
		code, body := rawPost(t, p.Port, "/buffer", v)
		if code != http.StatusRequestEntityTooLarge || body != "request body too large\n" {
			t.Errorf("HTTP/1 content-length %s: %d %q, want the filter's 413 at headers time", v, code, body)
		}
		if got := p.Envoy.Stat(t, "btp.buffer.too_large"); got != before+1 {
			t.Errorf("HTTP/1 content-length %s: btp.buffer.too_large %d -> %d, want +1", v, before, got)
		}
	}
	for _, v := range []string{"18446744073709551616", "abc", "-1", "5, 5"} {
		if code, body := rawPost(t, p.Port, "/buffer", v); code != http.StatusBadRequest || strings.Contains(body, "content-length\n") {
			t.Errorf("HTTP/1 content-length %q: %d %q, want Envoy's own 400", v, code, body)
		}
	}
	before := p.Envoy.Stats(t)["http2.rx_messaging_error"] // defined at the first HTTP/2 connection
	h2 := []string{"9223372036854775808", "18446744073709551615", "abc", "-1", ""}
	for _, v := range h2 {
		if code := h2Status(t, p.Port, "/buffer", v); code > 0 {
			t.Errorf("HTTP/2 content-length %q: status %d, want the stream reset by Envoy's codec", v, code)
		}
	}
	if got := p.Envoy.Stat(t, "http2.rx_messaging_error"); got != before+int64(len(h2)) {
		t.Errorf("http2.rx_messaging_error %d -> %d, want +%d", before, got, len(h2))
	}
	if code := h2Status(t, p.Port, "/buffer", "2048"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("HTTP/2 content-length 2048: %d, want 413", code)
	}
	if n := p.Envoy.Stat(t, "btp.buffer.invalid_length"); n != 0 {
		t.Errorf("btp.buffer.invalid_length = %d, want 0 (Envoy refuses every such value first)", n)
	}
	if n := be.Hits(); n != 0 {
		t.Errorf("backend saw %d requests, want 0", n)
	}
}
