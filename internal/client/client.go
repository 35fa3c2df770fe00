package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/kscope/kscope/internal/push"
	"github.com/kscope/kscope/internal/version"
)

// Where clients find the agent and their configuration when not told.
const (
	// DefaultServer is the agent's default listen address.
	DefaultServer = "http://127.0.0.1:9464"
	// ServerEnv names the agent's URL.
	ServerEnv = "KSCOPE_SERVER"
	// HTTPConfigEnv names the HTTP client configuration file.
	HTTPConfigEnv = "KSCOPE_HTTP_CONFIG_FILE"
)

// MaxBody bounds what the client reads of one answer.
const MaxBody = 64 << 20

// Options configure a Client.
type Options struct {
	// HTTPConfigFile is Prometheus's HTTP client configuration
	// (basic_auth, authorization, tls_config, proxy_url…), as promtool's
	// --http.config.file reads it; empty: a plain client, which still
	// sends the user and password of a URL like https://user:pass@host.
	HTTPConfigFile string
	// Timeout bounds each request but the live stream; 0: none.
	Timeout time.Duration
}

// Client calls one agent's API. It is safe for concurrent use.
type Client struct {
	url     string // without a trailing slash
	http    *http.Client
	timeout time.Duration
}

// ConfigError is an HTTP client configuration file that does not load.
type ConfigError struct {
	File string
	Err  error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// New returns a client of the agent at server, a URL like
// http://127.0.0.1:9464.
func New(server string, o Options) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("server %q: want a URL like %s", server, DefaultServer)
	}
	c := &Client{url: strings.TrimRight(server, "/"), http: &http.Client{}, timeout: o.Timeout}
	if o.HTTPConfigFile != "" {
		cfg, _, err := promconfig.LoadHTTPConfigFile(o.HTTPConfigFile)
		if err != nil {
			return nil, &ConfigError{o.HTTPConfigFile, fmt.Errorf("reading %s: %w", o.HTTPConfigFile, err)}
		}
		if c.http, err = promconfig.NewClientFromConfig(*cfg, "kscope", promconfig.WithUserAgent("kscope/"+version.Version)); err != nil {
			return nil, &ConfigError{o.HTTPConfigFile, fmt.Errorf("%s: %w", o.HTTPConfigFile, err)}
		}
	}
	return c, nil
}

// URL is the agent's URL, without a trailing slash.
func (c *Client) URL() string { return c.url }

// Error is an answer in the Prometheus API's error shape:
// {"status":"error","errorType":"bad_data","error":"…"}.
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Type is bad_data (the request is wrong), execution, timeout,
	// canceled, internal or unavailable.
	Type string
	// Msg is the agent's explanation.
	Msg string
}

func (e *Error) Error() string { return e.Type + ": " + e.Msg }

// ErrNotAgent is returned when the server does not answer like a kscope
// agent.
var ErrNotAgent = errors.New("not the kscope API")

// ErrUnauthorized is returned when the agent requires authentication and
// refused the credentials given, or their absence.
var ErrUnauthorized = errors.New("requires authentication and refused this request")

// RefusedError is an agent that refused a request for another reason than
// its credentials: a client certificate (403) or the Host (421).
type RefusedError struct {
	URL        string
	StatusCode int
	Status     string
	Body       string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the kscope agent at %s refused this request (%s): %.200s", e.URL, e.Status, e.Body)
}

// Response is a success of the API: its data, raw, and the warnings.
type Response struct {
	Data     json.RawMessage
	Warnings []string
}

// envelope is the Prometheus API's answer.
type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// Do calls the API at path (like /api/v1/query) with params as a POST
// form, and returns the data of a success.
func (c *Client) Do(ctx context.Context, path string, params url.Values) (*Response, error) {
	body, resp, err := c.call(ctx, http.MethodPost, path, params)
	if err != nil {
		return nil, err
	}
	return decode(c.url+path, resp, body)
}

// get calls path with GET: the routes that take no form.
func (c *Client) get(ctx context.Context, path string, params url.Values) (*Response, error) {
	body, resp, err := c.call(ctx, http.MethodGet, path, params)
	if err != nil {
		return nil, err
	}
	return decode(c.url+path, resp, body)
}

// call sends one request and reads the answer, whatever its status but
// those that say the agent refused the client.
func (c *Client) call(ctx context.Context, method, path string, params url.Values) ([]byte, *http.Response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, method, path, params)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer of %s: %w", c.url+path, err)
	}
	if err := c.refused(resp, body); err != nil {
		return nil, nil, err
	}
	return body, resp, nil
}

// send sends one request and returns the response, its body unread.
func (c *Client) send(ctx context.Context, method, path string, params url.Values) (*http.Response, error) {
	u := c.url + path
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(params.Encode())
	} else if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("building the request to %s: %w", u, err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if cerr := (*tls.CertificateVerificationError)(nil); errors.As(err, &cerr) {
		return nil, fmt.Errorf("the kscope agent at %s has a certificate this client does not trust: give its CA as tls_config.ca_file in a client configuration file (--http.config.file or $%s): %w", c.url, HTTPConfigEnv, cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot reach the kscope agent at %s (is 'kscope agent' running? set --server or %s): %w", c.url, ServerEnv, err)
	}
	return resp, nil
}

// refused explains an answer that is not the API's: the agent refused the
// client's credentials, its certificate or its Host.
func (c *Client) refused(resp *http.Response, body []byte) error {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("the kscope agent at %s %w (%s): give credentials in a client configuration file with --http.config.file or $%s", c.url, ErrUnauthorized, resp.Status, HTTPConfigEnv)
	case http.StatusForbidden, http.StatusMisdirectedRequest:
		return &RefusedError{URL: c.url, StatusCode: resp.StatusCode, Status: resp.Status, Body: strings.TrimSpace(string(body))}
	}
	return nil
}

// decode reads the API's envelope: the data of a success, or *Error.
func decode(u string, resp *http.Response, body []byte) (*Response, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil || (e.Status != "success" && e.Status != "error") {
		return nil, fmt.Errorf("%s answered %s, %w: %.200q", u, resp.Status, ErrNotAgent, body)
	}
	if e.Status != "success" {
		return nil, &Error{StatusCode: resp.StatusCode, Type: e.ErrorType, Msg: e.Error}
	}
	return &Response{Data: e.Data, Warnings: e.Warnings}, nil
}

// raw returns the body of a success that is not JSON (a pprof profile, a
// flame graph); an answer in the API's shape is decoded as Do does.
func raw(u string, resp *http.Response, body []byte) ([]byte, error) {
	if resp.StatusCode/100 == 2 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return body, nil
	}
	r, err := decode(u, resp, body)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(r.Data), nil
}

// Write sends a remote-write request (push.Encode's body) to the agent's
// POST /api/v1/write, with the client's credentials.
func (c *Client) Write(ctx context.Context, body []byte) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return push.Push(ctx, c.http, c.url, body)
}
