// Command echo is the backend of the docker-compose rig: it answers every
// request with a small JSON description of what reached it, so a person (and
// e2e/compose/test.sh) can see what Envoy and the btp filter forwarded.
//
//	GET /hits            how many requests this backend has served
//	ANY path?status=503  answers 503 (to exercise retries and responseOverride)
//	ANY path             200 with the request's method, path, headers, body size
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
)

type reply struct {
	Backend  string              `json:"backend"`
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Headers  map[string][]string `json:"headers"`
	BodySize int64               `json:"bodySize"`
	Hits     int64               `json:"hits"`
}

func main() {
	addr := flag.String("listen", ":8080", "address to serve on")
	flag.Parse()
	name := os.Getenv("BACKEND_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	log.Fatal(http.ListenAndServe(*addr, newHandler(name)))
}

func newHandler(name string) http.Handler {
	var hits atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hits" {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, strconv.FormatInt(hits.Load(), 10)+"\n")
			return
		}
		n := hits.Add(1)
		size, _ := io.Copy(io.Discard, r.Body)
		status := http.StatusOK
		if c, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil && c >= 200 && c <= 599 {
			status = c
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", name)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(reply{
			Backend: name, Method: r.Method, Path: r.URL.Path,
			Headers: r.Header, BodySize: size, Hits: n,
		})
	})
}
