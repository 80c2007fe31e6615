package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/envoy-btp/envoy-btp/e2e/harness"
)

// filterProxy starts Envoy on the hand-written bootstrap
// testdata/filter.bootstrap.yaml: backend 0 answers 200, backend 1 answers
// 500 (for responseOverride), backend 2 serves the retry route.
func filterProxy(t *testing.T) *harness.Proxy {
	t.Helper()
	bs := harness.StartBackends(t, "be", 3)
	bs[1].SetStatus(http.StatusInternalServerError)
	return harness.UpBootstrap(t, "testdata/filter.bootstrap.yaml", bs)
}

func post(t *testing.T, url, body string, chunked bool) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		// An unknown length makes net/http send the body chunked, without
		// Content-Length, so the limit is enforced on the stream.
		req.Body = io.NopCloser(strings.NewReader(body))
		req.GetBody = nil
		req.ContentLength = -1
	}
	return harness.Do(t, req)
}
