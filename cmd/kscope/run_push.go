package main

import (
	"context"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"sync"
	"time"

	"github.com/kscope/kscope/internal/client"
	"github.com/kscope/kscope/internal/collector/probes"
	"github.com/kscope/kscope/internal/metrics"
	probrun "github.com/kscope/kscope/internal/probe/run"
	"github.com/kscope/kscope/internal/push"
)

// pusher sends a running script's maps to an agent (--server): every
// interval while the script runs, and once more on exit. Nothing queues:
// each push reads the maps as they are then, so a push that fails is
// made good by the next one; the failures are counted.
type pusher struct {
	c        *client.Client
	url      string
	fams     *probes.Families
	instance string

	mu       sync.Mutex // serializes pushes
	lastTs   int64      // the last push's timestamp (ms)
	sent     int        // pushes the agent took
	failed   int        // pushes that failed
	lastErr  error      // the last failure
	stop     context.CancelFunc
	finished chan struct{}
}

func newPusher(c *client.Client, url string, fams *probes.Families) *pusher {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	if u, err := neturl.Parse(url); err == nil {
		url = u.Redacted()
	}
	return &pusher{c: c, url: url, fams: fams, instance: host}
}

// start pushes read()'s maps every interval until stopped; interval 0
// starts nothing (only the push on exit).
func (p *pusher) start(interval time.Duration, read func() ([]*probrun.MapData, error)) {
	if interval <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.finished = cancel, make(chan struct{})
	go func() {
		defer close(p.finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			maps, err := read()
			if err != nil {
				err = fmt.Errorf("reading the maps to push them: %w", err)
			}
			// A push in flight when the script ends is waited for (the
			// client's timeout bounds it): it is counted either way.
			p.push(context.WithoutCancel(ctx), maps, err)
		}
	}()
}

// halt stops the periodic pushes, waiting for one in flight.
func (p *pusher) halt() {
	if p.stop == nil {
		return
	}
	p.stop()
	<-p.finished
	p.stop = nil
}

// final pushes the maps as the script left them; its error says the maps
// were not stored.
func (p *pusher) final(ctx context.Context, maps []*probrun.MapData, readErr error) error {
	if readErr != nil {
		readErr = fmt.Errorf("reading the maps to push them: %w", readErr)
	}
	// Ctrl-C ended the run: the push still goes.
	if err := p.push(context.WithoutCancel(ctx), maps, readErr); err != nil {
		if readErr != nil {
			return err
		}
		return fmt.Errorf("%w (the output above is complete; the maps were not stored in the agent)", err)
	}
	return nil
}

// push sends one push and counts it.
func (p *pusher) push(ctx context.Context, maps []*probrun.MapData, readErr error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := readErr
	if err == nil {
		err = p.send(ctx, maps)
	}
	if err != nil {
		p.failed++
		p.lastErr = err
		return err
	}
	p.sent++
	return nil
}

func (p *pusher) send(ctx context.Context, maps []*probrun.MapData) error {
	var e metrics.Emitter
	p.fams.Collect(&e, maps)
	// Each push's samples come after the last's, even within a
	// millisecond: the agent refuses a second value at one timestamp.
	now := time.Now()
	if ms := now.UnixMilli(); ms <= p.lastTs {
		now = time.UnixMilli(p.lastTs + 1)
	}
	body, err := push.Encode(e.Samples, now, "instance", p.instance)
	if err != nil {
		return err
	}
	p.lastTs = now.UnixMilli()
	return p.c.Write(ctx, body)
}

// report prints, with -v, how many pushes went and failed.
func (p *pusher) report(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(w, "pushes to %s: %d stored, %d failed", p.url, p.sent, p.failed)
	if p.lastErr != nil {
		fmt.Fprintf(w, " (the last: %v)", p.lastErr)
	}
	fmt.Fprintln(w)
}
