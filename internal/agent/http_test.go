package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	_ "github.com/kscope/kscope/internal/collector/http"
	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

// With the http collector on, the agent's own API traffic is recorded:
// each request as an http event in the store (one as the server, one as
// the client, both this process) and in the RED families.
func TestHTTPCollector(t *testing.T) {
	testutil.RequireBPF(t)
	if DefaultCollectors()["http"] {
		t.Error("http is on by default")
	}
	a, err := Start(context.Background(), testConfig(t, "http"), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st := a.Statuses(); len(st) != 1 || st[0].Err != nil {
		t.Fatalf("statuses %+v", st)
	}
	url := "http://" + a.Addr().String() + "/healthz"
	const n = 3
	for i := 0; i < n; i++ {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	match := []string{"pid=" + strconv.Itoa(os.Getpid()), "path=/healthz"}
	var res *store.Result
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if res, err = a.events.Query(context.Background(), store.Query{Type: "http", Match: match}); err != nil {
			t.Fatal(err)
		}
		if len(res.Events) >= 2*n {
			break
		}
	}
	roles := map[string]int{}
	for _, raw := range res.Events {
		var e struct {
			Role, Method, Raddr string
			Status              int
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if e.Method != "GET" || e.Status != 200 {
			t.Errorf("stored event %s", raw)
		}
		roles[e.Role]++
	}
	if roles["server"] != n || roles["client"] != n {
		t.Fatalf("stored %d events, roles %v; want %d of each", len(res.Events), roles, n)
	}
	_, samples, err := a.Gather(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range samples {
		if s.Desc.Name == "kscope_http_requests_total" || s.Desc.Name == "kscope_http_client_requests_total" {
			if len(s.Values) == 2 && s.Values[0] == "GET" && s.Values[1] == "200" {
				got[s.Desc.Name] = s.Value
			}
		}
	}
	if got["kscope_http_requests_total"] < n || got["kscope_http_client_requests_total"] < n {
		t.Errorf("GET 200 counters %v, want at least %d each", got, n)
	}
}
