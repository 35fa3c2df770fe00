package config

import (
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var policySections = []Section{{Name: "exec", Default: true}, {Name: PolicyCollector}}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		src     string
		files   []string
		enabled bool
	}{
		{"policies: rules.yaml\n", []string{"/etc/kscope/rules.yaml"}, true},
		{"policies: [/srv/a.yaml, d/]\n", []string{"/srv/a.yaml", "/etc/kscope/d"}, true},
		{"policies: [/srv/a.yaml]\ncollectors: {policy: false}\n", []string{"/srv/a.yaml"}, false},
		{"collectors: {policy: false}\npolicies: [/srv/a.yaml]\n", []string{"/srv/a.yaml"}, false},
		{"collectors: {exec: true}\n", nil, false},
	} {
		c, err := Parse("/etc/kscope/agent.yaml", []byte(tc.src), policySections)
		if err != nil {
			t.Errorf("%q: %v", tc.src, err)
			continue
		}
		if !slices.Equal(c.Policies, tc.files) || c.Collectors[PolicyCollector].Enabled != tc.enabled {
			t.Errorf("%q: policies %q, enabled %v", tc.src, c.Policies, c.Collectors[PolicyCollector].Enabled)
		}
	}
}

// A configuration file named by a relative path: its policies are found
// from its directory, as absolute paths.
func TestPoliciesRelative(t *testing.T) {
	c, err := Parse("conf/agent.yaml", []byte("policies: p.yaml\n"), policySections)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs("conf/p.yaml")
	if len(c.Policies) != 1 || c.Policies[0] != want {
		t.Errorf("policies %q, want %s", c.Policies, want)
	}
}

func TestAlerts(t *testing.T) {
	c, err := Parse("k.yaml", []byte("alerts:\n  queue: 10\n  webhook:\n    url: https://hooks.example/x\n    headers: {Authorization: Bearer t}\n    timeout: 2s\n"), policySections)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Alerts.Webhook
	if c.Alerts.Queue != 10 || w == nil || w.URL != "https://hooks.example/x" || w.Headers["Authorization"] != "Bearer t" || w.Timeout != 2*time.Second {
		t.Fatalf("alerts %+v %+v", c.Alerts, w)
	}
	if d, _ := Parse("k.yaml", nil, policySections); d.Alerts.Queue != DefaultAlertQueue || d.Alerts.Webhook != nil {
		t.Errorf("default alerts %+v", d.Alerts)
	}
	for src, want := range map[string]string{
		"alerts: {webhook: {url: ftp://x}}\n":                     `k.yaml:1: alerts.webhook.url: want an absolute http:// or https:// URL, not "ftp://x"`,
		"alerts: {webhook: {timeout: 1s}}\n":                      `k.yaml:1: alerts.webhook.url: missing: the webhook needs a url`,
		"alerts: {webhook: {url: http://x, timeout: 1h}}\n":       `k.yaml:1: alerts.webhook.timeout: at most 5m0s`,
		"alerts: {webhook: {url: http://x, headers: [a]}}\n":      `k.yaml:1: alerts.webhook.headers: want a mapping of header names to values`,
		"alerts: {webhook: {url: http://x, headers: {a b: c}}}\n": `k.yaml:1: alerts.webhook.headers.a b: not a valid header`,
		"alerts: {queue: 0}\n":                                    `k.yaml:1: alerts.queue: want a positive integer, not "0"`,
		"alerts: {queue: 100000}\n":                               `k.yaml:1: alerts.queue: at most 65536`,
		"alerts: {hook: 1}\n":                                     `k.yaml:1: alerts.hook: unknown key (known: webhook, queue)`,
		"policies: {a: b}\n":                                      `k.yaml:1: policies: want a string`,
		"policies: ['']\n":                                        `k.yaml:1: policies: want a policy file or directory, or a list of them`,
	} {
		if _, err := Parse("k.yaml", []byte(src), policySections); err == nil || err.Error() != want {
			t.Errorf("%q: %v\nwant %s", src, err, want)
		}
	}
}

func FuzzParsePolicies(f *testing.F) {
	f.Add([]byte("policies: [a.yaml, /b/]\nalerts: {queue: 3, webhook: {url: 'http://h/x', headers: {A: b}, timeout: 2s}}\n"))
	f.Add([]byte("policies: d\ncollectors: {policy: {enabled: false}}\n"))
	f.Add([]byte("alerts: {webhook: {url: 'https://h:1', timeout: 9m}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("/etc/f.yaml", data, policySections)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "/etc/f.yaml") {
				t.Fatalf("error without place: %v", err)
			}
			return
		}
		for _, p := range c.Policies {
			if !filepath.IsAbs(p) {
				t.Fatalf("relative policy path %q", p)
			}
		}
		if c.Alerts.Queue < 1 || c.Alerts.Queue > MaxAlertQueue {
			t.Fatalf("alerts.queue %d accepted", c.Alerts.Queue)
		}
		if w := c.Alerts.Webhook; w != nil {
			u, err := url.Parse(w.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || w.Timeout <= 0 || w.Timeout > MaxWebhookTimeout {
				t.Fatalf("webhook %+v accepted", w)
			}
			for k, v := range w.Headers {
				if k == "" || strings.ContainsAny(k, " :\t\r\n") || strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("header %q: %q accepted", k, v)
				}
			}
		}
	})
}
