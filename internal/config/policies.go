package config

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// PolicyCollector is the collector that enforces the policies key's rules:
// a non-empty policies key enables it unless collectors.policy says
// otherwise.
const PolicyCollector = "policy"

// Alerts is where the agent sends policy alerts besides the event store
// and its log (the alerts section).
type Alerts struct {
	// Webhook receives every alert of the files without a webhook of
	// their own; nil: none.
	Webhook *Webhook
	// Queue bounds the alerts waiting for each webhook: beyond it new ones
	// are dropped and counted.
	Queue int
}

// Webhook is an HTTP endpoint alerts are posted to as JSON.
type Webhook struct {
	URL     string
	Headers map[string]string
	Timeout time.Duration
}

// Defaults and bounds of the alerts section.
const (
	DefaultAlertQueue     = 1024
	MaxAlertQueue         = 1 << 16
	DefaultWebhookTimeout = 5 * time.Second
	MaxWebhookTimeout     = 5 * time.Minute
)

// policies reads the policies key: a file or directory, or a list of
// them. Relative paths are relative to the configuration file.
func (p *parser) policies(n *yaml.Node, c *Config) {
	nodes := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		nodes = n.Content
	}
	c.Policies = nil
	for _, v := range nodes {
		s := p.str(v, "policies")
		if s == "" {
			if p.err == nil {
				p.fail(v, "policies", "want a policy file or directory, or a list of them")
			}
			return
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(filepath.Dir(p.file), s)
			if abs, err := filepath.Abs(s); err == nil {
				s = abs // a reload finds the same files whatever the working directory
			}
		}
		c.Policies = append(c.Policies, s)
	}
}

// enablePolicy runs the policy collector when policies lists something
// and the file does not set collectors.policy itself.
func enablePolicy(top *yaml.Node, c *Config) {
	if len(c.Policies) == 0 {
		return
	}
	cc, ok := c.Collectors[PolicyCollector]
	if !ok || hasKey(top, "collectors", PolicyCollector) {
		return
	}
	cc.Enabled = true
	c.Collectors[PolicyCollector] = cc
}

// hasKey reports whether the mapping n has the nested key path.
func hasKey(n *yaml.Node, path ...string) bool {
	for _, k := range path {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

func (p *parser) alerts(n *yaml.Node, c *Config) {
	p.mapping(n, "alerts", []string{"webhook", "queue"}, func(key string, v *yaml.Node) {
		switch key {
		case "webhook":
			c.Alerts.Webhook = p.webhook(v, "alerts.webhook")
		case "queue":
			if c.Alerts.Queue = p.positive(v, "alerts.queue"); c.Alerts.Queue > MaxAlertQueue {
				p.fail(v, "alerts.queue", "at most %d", MaxAlertQueue)
			}
		}
	})
}

func (p *parser) webhook(n *yaml.Node, path string) *Webhook {
	w := &Webhook{Timeout: DefaultWebhookTimeout}
	p.mapping(n, path, []string{"url", "headers", "timeout"}, func(key string, v *yaml.Node) {
		switch key {
		case "url":
			w.URL = p.str(v, path+".url")
			if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.fail(v, path+".url", "want an absolute http:// or https:// URL, not %q", w.URL)
			}
		case "headers":
			if v.Kind != yaml.MappingNode {
				p.fail(v, path+".headers", "want a mapping of header names to values")
				return
			}
			w.Headers = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k := v.Content[i].Value
				val := p.str(v.Content[i+1], path+".headers."+k)
				if strings.ContainsAny(val, "\r\n\x00") || k == "" || strings.ContainsAny(k, " :\t\r\n") {
					p.fail(v.Content[i], path+".headers."+k, "not a valid header")
				}
				if ck := http.CanonicalHeaderKey(k); ck == "Content-Type" || ck == "Content-Length" {
					p.fail(v.Content[i], path+".headers."+k, "set by kscope")
				}
				w.Headers[k] = val
			}
		case "timeout":
			w.Timeout = p.duration(v, path+".timeout")
			if w.Timeout > MaxWebhookTimeout {
				p.fail(v, path+".timeout", "at most %v", MaxWebhookTimeout)
			}
		}
	})
	if w.URL == "" && p.err == nil {
		p.fail(n, path+".url", "missing: the webhook needs a url")
	}
	return w
}

// String describes the webhook without its headers, which may hold
// credentials.
func (w *Webhook) String() string {
	if w == nil {
		return "none"
	}
	return fmt.Sprintf("%s (timeout %v)", w.URL, w.Timeout)
}
