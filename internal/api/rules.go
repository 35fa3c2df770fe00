package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
)

// RuleGroups is what /api/v1/rules and /api/v1/alerts read: the rule
// groups the agent evaluates, sorted by file and name.
type RuleGroups interface {
	RuleGroups() []*rules.Group
}

// Engine is the PromQL engine the API evaluates queries with, under the
// same limits (max samples, timeout); rule evaluation shares it. Valid
// once Handler has been called.
func (s *Server) Engine() *promql.Engine { return s.engine }

// The JSON shapes of Prometheus's /api/v1/rules and /api/v1/alerts
// (web/api/v1), field for field, so that Grafana's alerting views and
// other Prometheus clients read them.
type (
	ruleDiscovery struct {
		RuleGroups []*ruleGroup `json:"groups"`
	}
	ruleGroup struct {
		Name           string    `json:"name"`
		File           string    `json:"file"`
		Rules          []any     `json:"rules"`
		Interval       float64   `json:"interval"`
		Limit          int       `json:"limit"`
		EvaluationTime float64   `json:"evaluationTime"`
		LastEvaluation time.Time `json:"lastEvaluation"`
	}
	alertingRule struct {
		State          string           `json:"state"`
		Name           string           `json:"name"`
		Query          string           `json:"query"`
		Duration       float64          `json:"duration"`
		KeepFiringFor  float64          `json:"keepFiringFor"`
		Labels         labels.Labels    `json:"labels"`
		Annotations    labels.Labels    `json:"annotations"`
		Alerts         []*alert         `json:"alerts"`
		Health         rules.RuleHealth `json:"health"`
		LastError      string           `json:"lastError,omitempty"`
		EvaluationTime float64          `json:"evaluationTime"`
		LastEvaluation time.Time        `json:"lastEvaluation"`
		Type           string           `json:"type"`
	}
	recordingRule struct {
		Name           string           `json:"name"`
		Query          string           `json:"query"`
		Labels         labels.Labels    `json:"labels"`
		Health         rules.RuleHealth `json:"health"`
		LastError      string           `json:"lastError,omitempty"`
		EvaluationTime float64          `json:"evaluationTime"`
		LastEvaluation time.Time        `json:"lastEvaluation"`
		Type           string           `json:"type"`
	}
	alertDiscovery struct {
		Alerts []*alert `json:"alerts"`
	}
	alert struct {
		Labels          labels.Labels `json:"labels"`
		Annotations     labels.Labels `json:"annotations"`
		State           string        `json:"state"`
		ActiveAt        *time.Time    `json:"activeAt,omitempty"`
		KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
		Value           string        `json:"value"`
	}
)

func (s *Server) ruleGroups() []*rules.Group {
	if s.Rules == nil {
		return nil
	}
	return s.Rules.RuleGroups()
}

// alerts answers /api/v1/alerts: the active (pending and firing) alerts
// of every alerting rule.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	res := alertDiscovery{Alerts: []*alert{}}
	for _, g := range s.ruleGroups() {
		for _, rl := range g.Rules() {
			if ar, ok := rl.(*rules.AlertingRule); ok {
				res.Alerts = append(res.Alerts, apiAlerts(ar.ActiveAlerts())...)
			}
		}
	}
	writeJSON(w, res)
}

func apiAlerts(in []*rules.Alert) []*alert {
	out := make([]*alert, len(in))
	for i, a := range in {
		out[i] = &alert{
			Labels:      a.Labels,
			Annotations: a.Annotations,
			State:       a.State.String(),
			ActiveAt:    &a.ActiveAt,
			Value:       strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			out[i].KeepFiringSince = &a.KeepFiringSince
		}
	}
	return out
}

// rules answers /api/v1/rules with Prometheus's parameters: type (alert or
// record), rule_name[], rule_group[], file[], match[] (rules whose labels
// match), exclude_alerts.
func (s *Server) rules(w http.ResponseWriter, r *http.Request) {
	if e := form(r); e != nil {
		writeError(w, e)
		return
	}
	set := func(vs []string) map[string]bool {
		m := make(map[string]bool, len(vs))
		for _, v := range vs {
			m[v] = true
		}
		return m
	}
	names, groups, files := set(r.Form["rule_name[]"]), set(r.Form["rule_group[]"]), set(r.Form["file[]"])
	matchers, e := s.selectors(r, false)
	if e != nil {
		writeError(w, e)
		return
	}
	typ := strings.ToLower(r.Form.Get("type"))
	if typ != "" && typ != "alert" && typ != "record" {
		writeError(w, badData("invalid parameter \"type\": not supported value %q", typ))
		return
	}
	exclude := false
	if v := r.Form.Get("exclude_alerts"); v != "" {
		var err error
		if exclude, err = strconv.ParseBool(strings.ToLower(v)); err != nil {
			writeError(w, badData("invalid parameter \"exclude_alerts\": %v", err))
			return
		}
	}
	res := ruleDiscovery{RuleGroups: []*ruleGroup{}}
	for _, g := range s.ruleGroups() {
		if len(groups) > 0 && !groups[g.Name()] || len(files) > 0 && !files[g.File()] {
			continue
		}
		rg := &ruleGroup{
			Name:           g.Name(),
			File:           g.File(),
			Interval:       g.Interval().Seconds(),
			Limit:          g.Limit(),
			Rules:          []any{},
			EvaluationTime: g.GetEvaluationTime().Seconds(),
			LastEvaluation: g.GetLastEvaluation(),
		}
		for _, rl := range g.Rules(matchers...) {
			if len(names) > 0 && !names[rl.Name()] {
				continue
			}
			lastError := ""
			if err := rl.LastError(); err != nil {
				lastError = err.Error()
			}
			switch rl := rl.(type) {
			case *rules.AlertingRule:
				if typ == "record" {
					continue
				}
				var active []*alert
				if !exclude {
					active = apiAlerts(rl.ActiveAlerts())
				}
				rg.Rules = append(rg.Rules, alertingRule{
					State:          rl.State().String(),
					Name:           rl.Name(),
					Query:          rl.Query().String(),
					Duration:       rl.HoldDuration().Seconds(),
					KeepFiringFor:  rl.KeepFiringFor().Seconds(),
					Labels:         rl.Labels(),
					Annotations:    rl.Annotations(),
					Alerts:         active,
					Health:         rl.Health(),
					LastError:      lastError,
					EvaluationTime: rl.GetEvaluationDuration().Seconds(),
					LastEvaluation: rl.GetEvaluationTimestamp(),
					Type:           "alerting",
				})
			case *rules.RecordingRule:
				if typ == "alert" {
					continue
				}
				rg.Rules = append(rg.Rules, recordingRule{
					Name:           rl.Name(),
					Query:          rl.Query().String(),
					Labels:         rl.Labels(),
					Health:         rl.Health(),
					LastError:      lastError,
					EvaluationTime: rl.GetEvaluationDuration().Seconds(),
					LastEvaluation: rl.GetEvaluationTimestamp(),
					Type:           "recording",
				})
			}
		}
		if len(rg.Rules) > 0 {
			res.RuleGroups = append(res.RuleGroups, rg)
		}
	}
	writeJSON(w, res)
}

// writeJSON writes a success response around v, encoded with
// encoding/json.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{"internal", http.StatusInternalServerError, fmt.Errorf("encoding the answer: %w", err)})
		return
	}
	writeData(w, b, nil)
}
