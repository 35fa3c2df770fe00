package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	yamlv2 "go.yaml.in/yaml/v2"
	"gopkg.in/yaml.v3"
)

// remoteWrite reads remote_write: a list of endpoints in the shape of
// Prometheus's remote_write (url, basic_auth, bearer_token_file,
// tls_config, queue_config, write_relabel_configs, …), decoded and
// checked by Prometheus's own RemoteWriteConfig. Relative file names
// (bearer_token_file, tls_config.ca_file) are relative to the file.
func (p *parser) remoteWrite(n *yaml.Node, c *Config) {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "remote_write", "want a list of endpoints (url, basic_auth, tls_config, queue_config, …)")
		return
	}
	names := map[string]bool{}
	c.RemoteWrite = nil
	for i, item := range n.Content {
		key := fmt.Sprintf("remote_write[%d]", i)
		// Prometheus's types decode with yaml v2: hand them the item
		// as YAML text, and place their errors at the item's line.
		text, err := yaml.Marshal(item)
		if err != nil {
			p.fail(item, key, "%v", err)
			return
		}
		rw := new(promconfig.RemoteWriteConfig)
		if err := yamlv2.UnmarshalStrict(text, rw); err != nil {
			line, msg := v2Error(err)
			p.err = &Error{File: p.file, Line: item.Line + max(line-1, 0), Key: key, Msg: msg}
			return
		}
		if err := rw.Validate(model.UTF8Validation); err != nil {
			p.fail(item, key, "write_relabel_configs: %v", err)
			return
		}
		if rw.Name != "" {
			if names[rw.Name] {
				p.fail(item, key, "duplicate name %q", rw.Name)
				return
			}
			names[rw.Name] = true
		}
		rw.HTTPClientConfig.SetDirectory(filepath.Dir(p.file))
		c.RemoteWrite = append(c.RemoteWrite, rw)
	}
}

// v2LineRE finds the line yaml v2 names in its errors.
var v2LineRE = regexp.MustCompile(`line (\d+): `)

// v2Error splits a yaml v2 error into the line it names (0: none) and
// the message.
func v2Error(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	line := 0
	if m := v2LineRE.FindStringSubmatchIndex(msg); m != nil && m[0] == 0 {
		line, _ = strconv.Atoi(msg[m[2]:m[3]])
		msg = msg[m[1]:]
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // the first of several
	}
	msg = strings.ReplaceAll(msg, "config.plain", "remote_write")
	return line, msg
}

// externalLabels reads external_labels: a mapping of label names to
// values, as Prometheus's global.external_labels.
func (p *parser) externalLabels(n *yaml.Node, c *Config) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "external_labels", "want a mapping of label names to values")
		return
	}
	b := labels.NewScratchBuilder(len(n.Content) / 2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join("external_labels", k.Value)
		switch {
		case !model.LegacyValidation.IsValidLabelName(k.Value):
			p.fail(k, key, "not a valid label name")
			return
		case strings.HasPrefix(k.Value, "__"):
			p.fail(k, key, "label names starting with __ are reserved")
			return
		case seen[k.Value]:
			p.fail(k, key, "duplicate key")
			return
		}
		seen[k.Value] = true
		val := p.str(v, key)
		if val == "" {
			p.fail(v, key, "want a non-empty value")
			return
		}
		b.Add(k.Value, val)
	}
	b.Sort()
	c.ExternalLabels = b.Labels()
}
