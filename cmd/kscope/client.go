package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/spf13/pflag"

	"github.com/kscope/kscope/internal/version"
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

// httpConfigEnv names the client configuration file when
// --http.config.file is not given.
const httpConfigEnv = "KSCOPE_HTTP_CONFIG_FILE"

func addHTTPConfigFlag(fl *pflag.FlagSet, dst *string) {
	fl.StringVar(dst, "http.config.file", "", "HTTP client configuration (basic_auth, tls_config: the format of promtool's flag of that name) for an agent behind --web.config.file (default $"+httpConfigEnv+")")
}

// agentClient is the client the configuration file (the flag, or else
// $KSCOPE_HTTP_CONFIG_FILE) describes: Prometheus's HTTP client
// configuration, as promtool reads it. Without one, a plain client; it
// still sends the user and password of a URL like https://user:pass@host.
func agentClient(file string) (*http.Client, error) {
	from := "--http.config.file"
	if file == "" {
		file, from = os.Getenv(httpConfigEnv), "$"+httpConfigEnv
	}
	if file == "" {
		return &http.Client{}, nil
	}
	cfg, _, err := promconfig.LoadHTTPConfigFile(file)
	if err != nil {
		return nil, usagef("%s: reading %s: %v", from, file, err)
	}
	c, err := promconfig.NewClientFromConfig(*cfg, "kscope", promconfig.WithUserAgent("kscope/"+version.Version))
	if err != nil {
		return nil, usagef("%s: %s: %v", from, file, err)
	}
	return c, nil
}

// statusError explains an answer that is not the API's: the agent
// refused the client's credentials, or its Host.
func statusError(server string, resp *http.Response, body []byte) error {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("the kscope agent at %s requires authentication and refused this request (%s): give credentials in a client configuration file with --http.config.file or $%s", server, resp.Status, httpConfigEnv)
	case http.StatusForbidden, http.StatusMisdirectedRequest:
		return fmt.Errorf("the kscope agent at %s refused this request (%s): %.200s", server, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
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
func apiGet(ctx context.Context, server, httpConfig, path string, params url.Values) (*apiResponse, error) {
	client, err := agentClient(httpConfig)
	if err != nil {
		return nil, err
	}
	u := strings.TrimRight(server, "/") + path
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, usagef("--server %q: %v", server, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if cerr := (*tls.CertificateVerificationError)(nil); errors.As(err, &cerr) {
		return nil, fmt.Errorf("the kscope agent at %s has a certificate this client does not trust: give its CA as tls_config.ca_file in a client configuration file (--http.config.file or $%s): %w", server, httpConfigEnv, cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot reach the kscope agent at %s (is 'kscope agent' running? set --server or KSCOPE_SERVER): %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	if err := statusError(server, resp, body); err != nil {
		return nil, err
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
