package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/collector"
)

// collectorRows renders the registry as docs/agent.md's table of
// collectors: name, default, outputs, event kinds, options with their
// defaults, and the one-line doc.
func collectorRows() []string {
	rows := []string{
		"| collector | default | outputs | events | options | what it does |",
		"| --- | --- | --- | --- | --- | --- |",
	}
	for _, s := range collector.Agent() {
		def := "off"
		if s.Default {
			def = "on"
		}
		var events, opts []string
		for _, k := range s.Events {
			events = append(events, "`"+k+"`")
		}
		if s.Options != nil {
			v := reflect.ValueOf(s.Options)
			for i := range v.NumField() {
				key, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
				if key != "" && key != "-" {
					opts = append(opts, fmt.Sprintf("`%s: %v`", key, v.Field(i)))
				}
			}
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s | %s | %s | %s |", s.Name, def,
			strings.ReplaceAll(s.Outputs.String(), ",", ", "), strings.Join(events, ", "), strings.Join(opts, ", "), s.Doc))
	}
	return rows
}

// docs/agent.md lists every collector as the registry declares it.
func TestDocsListCollectors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/agent.md")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(collectorRows(), "\n")
	if !strings.Contains(string(doc), "\n"+want+"\n") {
		t.Errorf("docs/agent.md's table of collectors is not the registry's; it is:\n\n%s", want)
	}
}
