package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/kscope/kscope/internal/web"
)

// UI is what the web UI needs from the agent beyond the Prometheus API and
// the event store. A nil field's endpoint answers 404.
type UI struct {
	// Live streams events as they are ingested: /api/v1/events/stream.
	Live Live
	// Doctor returns the doctor report as JSON: /api/v1/doctor.
	Doctor func(context.Context) ([]byte, error)
	// Status returns the agent's configuration and collectors as JSON:
	// /api/v1/status/agent.
	Status func() ([]byte, error)
	// Probes returns the agent's running scripts, their probes' cost and
	// losses as JSON: /api/v1/probes.
	Probes func() ([]byte, error)
}

// uiRoutes adds the web UI's endpoints and the UI itself, at /, to mux.
// The API's own routes are more specific and take precedence; every other
// path is the UI's (its client-side routes get index.html).
func (s *Server) uiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/events/stream", s.stream)
	mux.HandleFunc("GET /api/v1/doctor", func(w http.ResponseWriter, r *http.Request) {
		s.rawJSON(w, r, s.UI.Doctor)
	})
	mux.HandleFunc("GET /api/v1/status/agent", func(w http.ResponseWriter, r *http.Request) {
		var f func(context.Context) ([]byte, error)
		if s.UI.Status != nil {
			f = func(context.Context) ([]byte, error) { return s.UI.Status() }
		}
		s.rawJSON(w, r, f)
	})
	mux.HandleFunc("GET /api/v1/probes", func(w http.ResponseWriter, r *http.Request) {
		var f func(context.Context) ([]byte, error)
		if s.UI.Probes != nil {
			f = func(context.Context) ([]byte, error) { return s.UI.Probes() }
		}
		s.rawJSON(w, r, f)
	})
	mux.Handle("/", web.Handler())
}

func (s *Server) rawJSON(w http.ResponseWriter, r *http.Request, f func(context.Context) ([]byte, error)) {
	if f == nil {
		writeError(w, &apiError{"unavailable", http.StatusNotFound, errors.New("not available in this agent")})
		return
	}
	b, err := f(r.Context())
	if err != nil {
		writeError(w, &apiError{"internal", http.StatusInternalServerError, err})
		return
	}
	writeData(w, b, nil)
}
