package api

import (
	"encoding/json"
	"net/http"

	"github.com/kscope/kscope/internal/event"
)

// kindsData is the answer of /api/v1/kinds: the fields every event has,
// then each registered kind, built in or built at run time.
type kindsData struct {
	Header []fieldJSON `json:"header"`
	Kinds  []kindJSON  `json:"kinds"`
}

type kindJSON struct {
	Name    string       `json:"name"`
	Doc     string       `json:"doc"`
	Fields  []fieldJSON  `json:"fields"`
	Columns []columnJSON `json:"columns"`
	Summary []string     `json:"summary"`
	Bad     string       `json:"bad,omitempty"`
}

type fieldJSON struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	JSONType string `json:"json_type"`
	Doc      string `json:"doc"`
	Omit     bool   `json:"omitempty,omitempty"`
}

type columnJSON struct {
	Header string `json:"header"`
	Width  int    `json:"width"`
	Align  string `json:"align"`
	Field  string `json:"field,omitempty"`
}

func fieldsJSON(fs []event.Field) []fieldJSON {
	out := make([]fieldJSON, len(fs))
	for i, f := range fs {
		out[i] = fieldJSON{f.Name, f.Type.String(), f.Type.JSONType(), f.Doc, f.Omit}
	}
	return out
}

// kinds answers /api/v1/kinds with the registered event kinds: their docs,
// fields and table columns, and the fields a one-line summary shows.
func (s *Server) kinds(w http.ResponseWriter, r *http.Request) {
	d := kindsData{Header: fieldsJSON(event.HeaderFields), Kinds: []kindJSON{}}
	for _, k := range event.KindList() {
		kj := kindJSON{Name: k.Name, Doc: k.Doc, Fields: fieldsJSON(k.Fields), Summary: k.Summary, Bad: k.Bad}
		if kj.Summary == nil {
			kj.Summary = []string{}
		}
		for _, c := range k.Columns {
			align := "left"
			if c.Right {
				align = "right"
			}
			kj.Columns = append(kj.Columns, columnJSON{c.Header, c.Width, align, c.Field})
		}
		d.Kinds = append(d.Kinds, kj)
	}
	b, err := json.Marshal(d)
	if err != nil {
		writeError(w, &apiError{"internal", http.StatusInternalServerError, err})
		return
	}
	writeData(w, b, nil)
}
