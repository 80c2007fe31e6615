package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEcho(t *testing.T) {
	srv := httptest.NewServer(newHandler("b1"))
	defer srv.Close()

	tests := []struct {
		method, path, body string
		wantStatus         int
		wantHits           int64
	}{
		{"GET", "/anything", "", 200, 1},
		{"POST", "/upload", "hello", 200, 2},
		{"GET", "/limited?status=503", "", 503, 3},
		{"GET", "/x?status=abc", "", 200, 4},
		{"GET", "/x?status=99", "", 200, 5},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("X-Test", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got reply
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || got.Hits != tc.wantHits ||
			got.BodySize != int64(len(tc.body)) || got.Method != tc.method ||
			got.Path != strings.Split(tc.path, "?")[0] || got.Backend != "b1" || got.Headers["X-Test"][0] != "1" ||
			resp.Header.Get("X-Backend") != "b1" {
			t.Errorf("%s %s: status %d, reply %+v", tc.method, tc.path, resp.StatusCode, got)
		}
	}

	resp, err := http.Get(srv.URL + "/hits")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "5\n" {
		t.Errorf("/hits = %q, want 5 (the /hits probe itself is not counted)", b)
	}
}
