package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Probe 2: many concurrent request bodies around and far over
// requestBuffer's 1Mi limit (testdata/reliability.bootstrap.yaml, /body),
// announced by Content-Length or streamed chunked. Every body over the limit
// gets 413, every body up to it arrives intact: the backend hashes what it
// got and counts bodies whose sha256 differs from the client's.
func TestReliabilityBodyFlood(t *testing.T) {
	r := relProxy(t)
	const limit = 1 << 20
	// The edges first, each in both framings (even index: Content-Length,
	// odd: chunked): exactly the limit passes, one byte
	// more is refused.
	sizes := []int{0, 0, 1, 1, limit - 1, limit - 1, limit, limit, limit + 1, limit + 1}
	rng := rand.New(rand.NewPCG(13, 2))
	n := scale(48, 400)
	maxSize := scale(3<<20, 8<<20)
	// Then as many under the limit as over it, up to maxSize.
	for len(sizes) < n {
		if len(sizes)%4 < 2 {
			sizes = append(sizes, rng.IntN(limit+1))
		} else {
			sizes = append(sizes, limit+1+rng.IntN(maxSize-limit))
		}
	}
	conc := scale(8, 32)
	deadline := time.Now().Add(time.Duration(scale(60, 300)) * time.Second)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	var under, over, bytes atomic.Int64
	work := make(chan int)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				size, chunked := sizes[i], i%2 == 1
				if time.Now().After(deadline) {
					continue
				}
				if err := sendBody(r.URL("/body"), uint64(i), size, chunked, size <= limit); err != nil {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("body %d (%d B, chunked %v): %v", i, size, chunked, err))
					mu.Unlock()
				} else if size <= limit {
					under.Add(1)
				} else {
					over.Add(1)
				}
				bytes.Add(int64(size))
			}
		}()
	}
	for i := range sizes {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	figure(t, "%d bodies (%d under or at 1Mi arrived intact, %d over got 413), %d concurrent, %.0f MiB in %.1fs; backend mismatches %d",
		len(sizes), under.Load(), over.Load(), conc, float64(bytes.Load())/(1<<20), took.Seconds(), r.be.mismatches.Load())
	for _, b := range bad {
		t.Error(b)
	}
	if int(under.Load()+over.Load()) != len(sizes) {
		t.Errorf("%d of %d bodies answered as expected (deadline passed?)", under.Load()+over.Load(), len(sizes))
	}
	if m := r.be.mismatches.Load(); m != 0 {
		t.Errorf("backend saw %d bodies whose sha256 differs from the client's", m)
	}
	if got := r.Envoy.Stat(t, "btp.buffer.too_large"); got != over.Load() {
		t.Errorf("btp.buffer.too_large = %d, want %d", got, over.Load())
	}
	alive(t, r.Envoy, r.URL("/side"))
}

// bodyReader is a body of size bytes that depends only on seed.
func bodyReader(seed uint64, size int) io.Reader {
	return io.LimitReader(&patternReader{rng: rand.New(rand.NewPCG(seed, 7))}, int64(size))
}

type patternReader struct{ rng *rand.Rand }

func (p *patternReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.rng.Uint32())
	}
	return len(b), nil
}

// sendBody POSTs body seed of size bytes and checks the answer: 200 with
// the backend's sha256 equal to the client's when ok, else 413.
func sendBody(url string, seed uint64, size int, chunked, ok bool) error {
	h := sha256.New()
	io.Copy(h, bodyReader(seed, size))
	sum := hex.EncodeToString(h.Sum(nil))
	req, err := http.NewRequest(http.MethodPost, url, bodyReader(seed, size))
	if err != nil {
		return err
	}
	req.ContentLength = int64(size)
	if chunked {
		req.ContentLength = -1
	}
	req.Header.Set("x-want-sha256", sum)
	resp, err := bodyClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	switch {
	case ok && resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d, want 200", resp.StatusCode)
	case ok && resp.Header.Get("x-body-sha256") != sum:
		return fmt.Errorf("backend got sha256 %s (%s B), want %s", resp.Header.Get("x-body-sha256"), resp.Header.Get("x-body-bytes"), sum)
	case !ok && resp.StatusCode != http.StatusRequestEntityTooLarge:
		return fmt.Errorf("status %d, want 413", resp.StatusCode)
	}
	return nil
}

var bodyClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
