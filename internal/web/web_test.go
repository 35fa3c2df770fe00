package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func do(t *testing.T, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assetsOf returns the /assets/ paths index.html references.
func assetsOf(t *testing.T) (js, css string) {
	t.Helper()
	index := body(t, do(t, "GET", "/", nil))
	js = regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(index)[1]
	css = regexp.MustCompile(`href="(/assets/[^"]+\.css)"`).FindStringSubmatch(index)[1]
	return js, css
}

func TestIndexAndSPAFallback(t *testing.T) {
	for _, path := range []string{"/", "/index.html", "/processes", "/processes/1234", "/events?mode=history", "/kscope/"} {
		r := do(t, "GET", path, nil)
		b := body(t, r)
		if r.StatusCode != 200 || !strings.Contains(b, `<div id="app">`) {
			t.Errorf("%s: %d %.80q", path, r.StatusCode, b)
		}
		if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", path, cc)
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	// Not client routes: API paths and missing files.
	for _, path := range []string{"/api/v1/nope", "/assets/missing.js", "/favicon.ico", "/x/y.css"} {
		if r := do(t, "GET", path, nil); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, r.StatusCode)
		}
	}
	if r := do(t, "POST", "/", nil); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d %q", r.StatusCode, r.Header.Get("Allow"))
	}
}

func TestAssetsTypesAndCaching(t *testing.T) {
	js, css := assetsOf(t)
	for path, ct := range map[string]string{js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8", "/favicon.svg": "image/svg+xml"} {
		r := do(t, "GET", path, nil)
		b := body(t, r)
		if r.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("%s: %d, %d bytes", path, r.StatusCode, len(b))
		}
		if got := r.Header.Get("Content-Type"); got != ct {
			t.Errorf("%s: Content-Type %q, want %q", path, got, ct)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
		want := "no-cache"
		if strings.HasPrefix(path, "/assets/") {
			want = "public, max-age=31536000, immutable"
		}
		if got := r.Header.Get("Cache-Control"); got != want {
			t.Errorf("%s: Cache-Control %q, want %q", path, got, want)
		}
	}
	if r := do(t, "HEAD", js, nil); r.StatusCode != 200 || body(t, r) != "" || r.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD %s: %d, Content-Length %q", js, r.StatusCode, r.Header.Get("Content-Length"))
	}
}

func TestETagAndGzip(t *testing.T) {
	js, _ := assetsOf(t)
	r := do(t, "GET", js, nil)
	plain := body(t, r)
	etag := r.Header.Get("ETag")
	if etag == "" || r.Header.Get("Content-Encoding") != "" {
		t.Fatalf("ETag %q, Content-Encoding %q", etag, r.Header.Get("Content-Encoding"))
	}
	if r := do(t, "GET", js, map[string]string{"If-None-Match": etag}); r.StatusCode != 304 || body(t, r) != "" {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	if r := do(t, "GET", js, map[string]string{"If-None-Match": `"other"`}); r.StatusCode != 200 {
		t.Errorf("If-None-Match other: %d", r.StatusCode)
	}
	r = do(t, "GET", js, map[string]string{"Accept-Encoding": "br, gzip"})
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip: Content-Encoding %q Vary %q", r.Header.Get("Content-Encoding"), r.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, []byte(plain)) {
		t.Errorf("gzipped body differs: %d vs %d bytes", len(unz), len(plain))
	}
	if r := do(t, "GET", js, map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 still gzipped")
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{"": false, "gzip": true, "deflate, gzip;q=1.0": true, "gzip;q=0": false, "br": false, "x-gzip": false, " gzip ; q=0.5": true} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}
