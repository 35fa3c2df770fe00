package policy

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"gopkg.in/yaml.v3"
)

// Webhook is where a file's alerts are posted as JSON, besides the event
// store: a policy file's top-level webhook key, or the agent's
// alerts.webhook.
type Webhook struct {
	URL     string
	Headers map[string]string
	// Timeout bounds one attempt (DefaultWebhookTimeout when not given).
	Timeout time.Duration
	Pos     Pos
}

// DefaultWebhookTimeout bounds one webhook attempt when the file does not.
const DefaultWebhookTimeout = 5 * time.Second

// MaxWebhookTimeout bounds a webhook's timeout key.
const MaxWebhookTimeout = 5 * time.Minute

var webhookKeys = []string{"url", "headers", "timeout"}

// webhook reads a webhook mapping: {url, headers, timeout}.
func (p *parser) webhook(n *yaml.Node) *Webhook {
	before := len(p.errs)
	w := &Webhook{Timeout: DefaultWebhookTimeout, Pos: p.pos(n)}
	p.mapping(n, "webhook", webhookKeys, []string{"url"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "url":
			s, ok := p.scalar(v, "webhook.url")
			if !ok {
				return
			}
			if err := CheckWebhookURL(s); err != nil {
				p.fail(v, "webhook.url: %v", err)
				return
			}
			w.URL = s
		case "headers":
			if v.Kind != yaml.MappingNode {
				p.fail(v, "webhook.headers: want a mapping of header names to values")
				return
			}
			w.Headers = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				hk, hv := v.Content[i], v.Content[i+1]
				val, ok := p.scalar(hv, "webhook.headers."+hk.Value)
				if !ok {
					continue
				}
				if err := CheckWebhookHeader(hk.Value, val); err != nil {
					p.fail(hk, "webhook.headers: %v", err)
					continue
				}
				w.Headers[hk.Value] = val
			}
		case "timeout":
			s, ok := p.scalar(v, "webhook.timeout")
			if !ok {
				return
			}
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 || d > MaxWebhookTimeout {
				p.fail(v, "webhook.timeout: want a duration from 1ms to %v, not %q", MaxWebhookTimeout, s)
				return
			}
			w.Timeout = d
		}
	})
	if len(p.errs) > before {
		return nil
	}
	return w
}

// CheckWebhookURL accepts an absolute http or https URL.
func CheckWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http:// or https:// URL, not %q", s)
	}
	return nil
}

// CheckWebhookHeader accepts a valid HTTP header name and value.
func CheckWebhookHeader(name, value string) error {
	if !validHeaderName(name) {
		return fmt.Errorf("%q is not a valid header name", name)
	}
	for _, c := range value {
		if c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("header %s: the value holds a control character", name)
		}
	}
	if http.CanonicalHeaderKey(name) == "Content-Type" || http.CanonicalHeaderKey(name) == "Content-Length" {
		return fmt.Errorf("header %s is set by kscope", name)
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c < 0x80 && c > ' ' && c != ':' && c != '(' && c != ')' && c != '<' && c != '>' && c != '@' &&
			c != ',' && c != ';' && c != '\\' && c != '"' && c != '/' && c != '[' && c != ']' && c != '?' &&
			c != '=' && c != '{' && c != '}':
		default:
			return false
		}
	}
	return true
}
