package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// remote_write is Prometheus's own: its defaults, its keys, relative
// file names resolved against the configuration's directory.
func TestRemoteWrite(t *testing.T) {
	doc := `
external_labels:
  instance: host-a
  cluster: eu-1
remote_write:
  - url: https://prom.example:9090/api/v1/write
    name: central
    bearer_token_file: token
    tls_config:
      ca_file: /etc/ssl/ca.pem
    queue_config:
      max_samples_per_send: 500
      min_backoff: 100ms
      max_backoff: 10s
    write_relabel_configs:
      - source_labels: [__name__]
        regex: kscope_self_.*
        action: drop
  - url: http://127.0.0.1:8428/api/v1/write
    basic_auth:
      username: kscope
      password: secret
`
	c, err := Parse("/etc/kscope/kscope.yaml", []byte(doc), known)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ExternalLabels.String(); got != `{cluster="eu-1", instance="host-a"}` {
		t.Errorf("external_labels %s", got)
	}
	if len(c.RemoteWrite) != 2 {
		t.Fatalf("%d remote_write entries", len(c.RemoteWrite))
	}
	a, b := c.RemoteWrite[0], c.RemoteWrite[1]
	if a.URL.String() != "https://prom.example:9090/api/v1/write" || a.Name != "central" {
		t.Errorf("first: %s %q", a.URL, a.Name)
	}
	// bearer_token_file becomes Prometheus's authorization.credentials_file.
	if a.HTTPClientConfig.Authorization == nil || a.HTTPClientConfig.Authorization.CredentialsFile != filepath.Join("/etc/kscope", "token") {
		t.Errorf("bearer_token_file: %+v", a.HTTPClientConfig.Authorization)
	}
	if a.HTTPClientConfig.TLSConfig.CAFile != "/etc/ssl/ca.pem" {
		t.Errorf("tls_config.ca_file %q", a.HTTPClientConfig.TLSConfig.CAFile)
	}
	qc := a.QueueConfig
	if qc.MaxSamplesPerSend != 500 || time.Duration(qc.MinBackoff) != 100*time.Millisecond || time.Duration(qc.MaxBackoff) != 10*time.Second {
		t.Errorf("queue_config %+v", qc)
	}
	if len(a.WriteRelabelConfigs) != 1 || a.WriteRelabelConfigs[0].Action != "drop" {
		t.Errorf("write_relabel_configs %+v", a.WriteRelabelConfigs)
	}
	if time.Duration(b.RemoteTimeout) != 30*time.Second || b.QueueConfig.MaxSamplesPerSend != 2000 {
		t.Errorf("defaults: remote_timeout %v, max_samples_per_send %d", b.RemoteTimeout, b.QueueConfig.MaxSamplesPerSend)
	}
	if b.HTTPClientConfig.BasicAuth == nil || b.HTTPClientConfig.BasicAuth.Username != "kscope" {
		t.Errorf("basic_auth %+v", b.HTTPClientConfig.BasicAuth)
	}
	if a.WriteRelabelConfigs[0].Regex.MatchString("kscope_self_up") != true || a.WriteRelabelConfigs[0].SourceLabels[0] != model.MetricNameLabel {
		t.Errorf("relabel rule %+v", a.WriteRelabelConfigs[0])
	}
}

func TestRemoteWriteErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"remote_write:\n  url: http://a/\n", `k.yaml:2: remote_write: want a list of endpoints`},
		{"remote_write:\n  - name: a\n", `k.yaml:2: remote_write[0]: url for remote_write is empty`},
		{"remote_write:\n  - url: http://a/\n  - url: http://b/\n    queue_config:\n      max_samples: 3\n", `k.yaml:5: remote_write[1]: field max_samples not found in type config.QueueConfig`},
		{"remote_write:\n  - url: http://a/\n    urls: x\n", `k.yaml:3: remote_write[0]: field urls not found in type remote_write`},
		{"remote_write:\n  - url: http://a/\n    basic_auth: {username: a, password: b}\n    bearer_token_file: t\n", `k.yaml:2: remote_write[0]: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured`},
		{"remote_write:\n  - url: http://a/\n    name: x\n  - url: http://b/\n    name: x\n", `k.yaml:4: remote_write[1]: duplicate name "x"`},
		{"remote_write:\n  - url: http://a/\n    write_relabel_configs:\n      - action: replace\n", `k.yaml:2: remote_write[0]: write_relabel_configs: relabel configuration for replace action requires 'target_label' value`},
		{"remote_write:\n  - url: ':'\n", `k.yaml:2: remote_write[0]: parse ":": missing protocol scheme`},
		{"external_labels: [a]\n", `k.yaml:1: external_labels: want a mapping of label names to values`},
		{"external_labels:\n  in-stance: a\n", `k.yaml:2: external_labels.in-stance: not a valid label name`},
		{"external_labels:\n  __name__: a\n", `k.yaml:2: external_labels.__name__: label names starting with __ are reserved`},
		{"external_labels:\n  a: \"\"\n", `k.yaml:2: external_labels.a: want a non-empty value`},
		{"external_labels:\n  a: x\n  a: y\n", `k.yaml:3: external_labels.a: duplicate key`},
	} {
		_, err := Parse("k.yaml", []byte(tc.doc), known)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v is not a config.Error", tc.doc, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got %s\nwant %s", tc.doc, err, tc.want)
		}
	}
}
