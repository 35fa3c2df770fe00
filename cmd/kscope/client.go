package main

import (
	"errors"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/kscope/kscope/internal/client"
)

// defaultServer is where the clients find the agent.
const defaultServer = client.DefaultServer

func serverURL(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(client.ServerEnv); env != "" {
		return env
	}
	return defaultServer
}

func addHTTPConfigFlag(fl *pflag.FlagSet, dst *string) {
	fl.StringVar(dst, "http.config.file", "", "HTTP client configuration (basic_auth, tls_config: the format of promtool's flag of that name) for an agent behind --web.config.file (default $"+client.HTTPConfigEnv+")")
}

// agentAPI is the client of the agent at server with the configuration
// file (the flag, or else $KSCOPE_HTTP_CONFIG_FILE): Prometheus's HTTP
// client configuration, as promtool reads it. A server that is not a URL
// and a file that does not load are usage errors.
func agentAPI(server, file string, timeout time.Duration) (*client.Client, error) {
	from := "--http.config.file"
	if file == "" {
		file, from = os.Getenv(client.HTTPConfigEnv), "$"+client.HTTPConfigEnv
	}
	c, err := client.New(server, client.Options{HTTPConfigFile: file, Timeout: timeout})
	if cerr := (*client.ConfigError)(nil); errors.As(err, &cerr) {
		return nil, usagef("%s: %v", from, err)
	}
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

// apiError makes the API's bad_data answer (the request is wrong) a usage
// error; other errors stay as they are.
func apiError(err error) error {
	if e := (*client.Error)(nil); errors.As(err, &e) && e.Type == "bad_data" {
		return usagef("%s", e.Msg)
	}
	return err
}
