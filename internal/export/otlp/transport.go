package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kscope/kscope/internal/config"
	"github.com/kscope/kscope/internal/version"
)

// transport sends encoded export requests.
type transport interface {
	// export sends r. rejected: the samples the receiver accepted the
	// request without (a partial success); retry: the failure may pass;
	// after: the receiver's Retry-After.
	export(ctx context.Context, r request) (rejected int64, retry bool, after time.Duration, err error)
	close() error
}

func newTransport(c *config.OTLP) (transport, error) {
	plain := c.Insecure || strings.HasPrefix(c.Endpoint, "http://")
	if c.Protocol == config.OTLPHTTP {
		return newHTTPTransport(c, plain)
	}
	return newGRPCTransport(c, plain)
}

// rejectedOf reads the partial success of a response to a request of sig.
func rejectedOf(sig signal, data []byte) (int64, error) {
	switch sig {
	case sigMetrics:
		r := pmetricotlp.NewExportResponse()
		if err := r.UnmarshalProto(data); err != nil {
			return 0, err
		}
		return r.PartialSuccess().RejectedDataPoints(), nil
	case sigLogs:
		r := plogotlp.NewExportResponse()
		if err := r.UnmarshalProto(data); err != nil {
			return 0, err
		}
		return r.PartialSuccess().RejectedLogRecords(), nil
	default:
		r := pprofileotlp.NewExportResponse()
		if err := r.UnmarshalProto(data); err != nil {
			return 0, err
		}
		return r.PartialSuccess().RejectedProfiles(), nil
	}
}

// grpcTransport calls the OTLP services' Export with the requests as
// encoded: a codec that passes bytes through, named proto as the
// receiver expects.
type grpcTransport struct {
	cc *grpc.ClientConn
	md metadata.MD
}

var grpcMethods = [...]string{
	sigMetrics:  "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	sigLogs:     "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
	sigProfiles: "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
}

func newGRPCTransport(c *config.OTLP, plain bool) (*grpcTransport, error) {
	target := c.Endpoint
	if u, err := url.Parse(c.Endpoint); err == nil && u.Host != "" && strings.Contains(c.Endpoint, "://") {
		target = u.Host
	}
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	if plain {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds), grpc.WithUserAgent("kscope/"+version.Version))
	if err != nil {
		return nil, err
	}
	return &grpcTransport{cc: cc, md: metadata.New(c.Headers)}, nil
}

func (t *grpcTransport) export(ctx context.Context, r request) (int64, bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	md := t.md
	if r.sig == sigProfiles {
		md = metadata.Join(md, metadata.Pairs(pprofileotlp.DevelopmentVersionHeader, pprofileotlp.DevelopmentVersion))
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	var resp []byte
	err := t.cc.Invoke(ctx, grpcMethods[r.sig], r.data, &resp, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		switch status.Code(err) {
		case codes.Canceled, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted,
			codes.OutOfRange, codes.Unavailable, codes.DataLoss:
			return 0, true, 0, err
		}
		return 0, false, 0, err
	}
	rejected, err := rejectedOf(r.sig, resp)
	if err != nil {
		return 0, false, 0, fmt.Errorf("decoding the response: %w", err)
	}
	return rejected, false, 0, nil
}

func (t *grpcTransport) close() error { return t.cc.Close() }

// rawCodec passes encoded messages through.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: marshaling %T", v)
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: unmarshaling into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// httpTransport posts the requests as protobuf (OTLP/HTTP).
type httpTransport struct {
	client  *http.Client
	urls    [3]string
	headers map[string]string
}

var httpPaths = [...]string{
	sigMetrics:  "/v1/metrics",
	sigLogs:     "/v1/logs",
	sigProfiles: "/v1development/profiles",
}

func newHTTPTransport(c *config.OTLP, plain bool) (*httpTransport, error) {
	base := c.Endpoint
	if !strings.Contains(base, "://") {
		if plain {
			base = "http://" + base
		} else {
			base = "https://" + base
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t := &httpTransport{client: &http.Client{Transport: tr}, headers: c.Headers}
	basePath := strings.TrimSuffix(u.Path, "/")
	for sig, p := range httpPaths {
		v := *u
		v.Path = basePath + p
		t.urls[sig] = v.String()
	}
	return t, nil
}

func (t *httpTransport) export(ctx context.Context, r request) (int64, bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.urls[r.sig], bytes.NewReader(r.data))
	if err != nil {
		return 0, false, 0, err
	}
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "kscope/"+version.Version)
	if r.sig == sigProfiles {
		req.Header.Set(pprofileotlp.DevelopmentVersionHeader, pprofileotlp.DevelopmentVersion)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, true, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		if err != nil {
			return 0, false, 0, fmt.Errorf("reading the response: %w", err)
		}
		if resp.Header.Get("Content-Type") != "application/x-protobuf" || len(body) == 0 {
			return 0, false, 0, nil
		}
		rejected, err := rejectedOf(r.sig, body)
		if err != nil {
			return 0, false, 0, fmt.Errorf("decoding the response: %w", err)
		}
		return rejected, false, 0, nil
	}
	err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body[:min(len(body), 512)]))
	var after time.Duration
	if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
		after = time.Duration(min(s, math.MaxInt32)) * time.Second
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return 0, true, after, err
	}
	return 0, false, 0, err
}

func (t *httpTransport) close() error {
	t.client.CloseIdleConnections()
	return nil
}
