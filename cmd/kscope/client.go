package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultServer is where the clients find the agent.
const defaultServer = "http://127.0.0.1:9464"

func serverURL(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("KSCOPE_SERVER"); env != "" {
		return env
	}
	return defaultServer
}

// apiResponse is the Prometheus API envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// apiGet calls the agent's API and returns the data of a success.
func apiGet(ctx context.Context, server, path string, params url.Values) (*apiResponse, error) {
	u := strings.TrimRight(server, "/") + path
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, usagef("--server %q: %v", server, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the kscope agent at %s (is 'kscope agent' running? set --server or KSCOPE_SERVER): %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s answered %s, not the kscope API: %.200s", u, resp.Status, body)
	}
	if r.Status != "success" {
		if r.ErrorType == "bad_data" {
			return nil, usagef("%s", r.Error)
		}
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return &r, nil
}
