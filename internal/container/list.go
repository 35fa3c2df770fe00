package container

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Containers lists the containers the runtimes know, running or not (a
// created container has its id before it starts): their ids and names as
// Process names them. A runtime whose socket is missing is skipped; the
// error joins those of the runtimes that did not answer, with the
// containers of those that did.
func (r *Resolver) Containers(ctx context.Context) ([]Info, error) {
	var out []Info
	var errs []error
	for _, api := range []struct {
		d       *dockerAPI
		runtime string
	}{{r.docker, "docker"}, {r.podman, "podman"}} {
		if api.d == nil || !api.d.present() {
			continue
		}
		list, err := api.d.list(ctx, api.runtime)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, list...)
	}
	for _, c := range []*criAPI{r.cri, r.crio} {
		if c == nil || !c.present() {
			continue
		}
		list, err := c.list(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, list...)
	}
	return out, errors.Join(errs...)
}

// list is GET /containers/json?all=1.
func (d *dockerAPI) list(ctx context.Context, runtime string) ([]Info, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/json?all=1", nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("listing %s's containers: %w", d.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{d.socket, resp.Status}
	}
	var list []struct {
		ID     string            `json:"Id"`
		Names  []string          `json:"Names"`
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("decoding %s's container list: %w", d.socket, err)
	}
	out := make([]Info, 0, len(list))
	for _, c := range list {
		var in inspect
		in.ID, in.Config.Image, in.Config.Labels = c.ID, c.Image, c.Labels
		if len(c.Names) > 0 {
			in.Name = c.Names[0]
		}
		info := Info{ID: c.ID, Runtime: runtime}
		applyDocker(&in, &info)
		out = append(out, info)
	}
	return out, nil
}

// list is the CRI's ListContainers.
func (c *criAPI) list(ctx context.Context) ([]Info, error) {
	rt, err := c.runtime()
	if err != nil {
		return nil, err
	}
	resp, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing %s's containers: %w", c.socket, err)
	}
	out := make([]Info, 0, len(resp.GetContainers()))
	for _, ct := range resp.GetContainers() {
		info := Info{ID: ct.GetId(), Runtime: "cri"}
		applyCRI(&runtimeapi.ContainerStatus{Metadata: ct.GetMetadata(), Image: ct.GetImage(), Labels: ct.GetLabels()}, &info)
		out = append(out, info)
	}
	return out, nil
}

// WatchContainers calls changed each time the Docker Engine reports a
// container created, renamed or destroyed, until ctx is done; a broken
// stream is retried with backoff. Without a Docker socket it returns at
// once (the CRI has no such stream: poll Containers).
func (r *Resolver) WatchContainers(ctx context.Context, changed func()) {
	r.followDocker(ctx, 100*time.Millisecond, []string{"create", "rename", "destroy"}, func(string) { changed() })
}

// followDocker calls f with the container id of each of the Docker
// Engine's container events of the given actions until ctx is done,
// retrying a broken stream after backoff, doubled each time up to a
// minute. Without a Docker socket it returns at once.
func (r *Resolver) followDocker(ctx context.Context, backoff time.Duration, actions []string, f func(id string)) {
	if r.docker == nil {
		return
	}
	for ctx.Err() == nil {
		if r.docker.present() {
			err := r.docker.events(ctx, actions, f)
			if ctx.Err() != nil {
				return
			}
			r.o.Logger.Debug("following docker events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// events follows the API's container events of the given actions, calling
// f with each one's container id, until the stream ends. The stream is
// open (and the first call of f can come) once the API has answered.
func (d *dockerAPI) events(ctx context.Context, actions []string, f func(id string)) error {
	q, _ := json.Marshal(map[string][]string{"type": {"container"}, "event": actions})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/events?filters="+url.QueryEscape(string(q)), nil)
	if err != nil {
		return err
	}
	// the stream has no overall timeout: a client without one
	c := *d.client
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct {
			Actor struct {
				ID string `json:"ID"`
			} `json:"Actor"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || !isID(strings.TrimSpace(ev.Actor.ID)) {
			continue
		}
		f(ev.Actor.ID)
	}
	return sc.Err()
}
