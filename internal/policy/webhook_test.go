package policy

import (
	"testing"
	"time"
)

const hookRule = "rules:\n  - {name: r, on: exec, match: {comm: [sh]}, action: alert}\n"

func TestParseWebhook(t *testing.T) {
	rules, err := Parse("p.yaml", []byte("webhook:\n  url: https://h.example/a\n  headers: {X-Key: v}\n  timeout: 3s\n"+hookRule))
	if err != nil {
		t.Fatal(err)
	}
	w := rules[0].Webhook
	if w == nil || w.URL != "https://h.example/a" || w.Headers["X-Key"] != "v" || w.Timeout != 3*time.Second || w.Pos.Line != 2 {
		t.Fatalf("webhook %+v", w)
	}
	if rules, _ := Parse("p.yaml", []byte(hookRule)); rules[0].Webhook != nil {
		t.Errorf("a file without webhook: %+v", rules[0].Webhook)
	}
	for src, want := range map[string]string{
		"webhook: {url: /rel}\n":                                 `p.yaml:1:16: webhook.url: want an absolute http:// or https:// URL, not "/rel"`,
		"webhook: {headers: {a: b}}\n":                           `p.yaml:1:10: webhook: missing key "url"`,
		"webhook: {url: http://x, timeout: 0s}\n":                `p.yaml:1:35: webhook.timeout: want a duration from 1ms to 5m0s, not "0s"`,
		"webhook: {url: http://x, headers: {a: [1]}}\n":          `p.yaml:1:39: webhook.headers.a: want a value`,
		"webhook: {url: http://x, headers: {\"a b\": c}}\n":      `p.yaml:1:36: webhook.headers: "a b" is not a valid header name`,
		"webhook: {url: http://x, headers: {Content-Type: x}}\n": `p.yaml:1:36: webhook.headers: header Content-Type is set by kscope`,
		"webhook: {url: http://x, retries: 3}\n":                 `p.yaml:1:26: webhook: unknown key "retries" (want one of url, headers, timeout)`,
	} {
		_, err := Parse("p.yaml", []byte(src+hookRule))
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v\nwant %s", src, err, want)
		}
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte("webhook: {url: 'https://h/a', headers: {X-A: b}, timeout: 1s}\n" + hookRule))
	f.Add([]byte("webhook:\n  url: http://h\n" + hookRule))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := Parse("f.yaml", data)
		if err != nil {
			return
		}
		for _, r := range rules {
			w := r.Webhook
			if w == nil {
				continue
			}
			if CheckWebhookURL(w.URL) != nil || w.Timeout <= 0 || w.Timeout > MaxWebhookTimeout {
				t.Fatalf("webhook %+v accepted", w)
			}
			for k, v := range w.Headers {
				if CheckWebhookHeader(k, v) != nil {
					t.Fatalf("header %q: %q accepted", k, v)
				}
			}
		}
	})
}
