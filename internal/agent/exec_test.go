package agent

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/store"
	"github.com/kscope/kscope/internal/testutil"
)

// The event store keeps every exec of a freshly forked child whole: the
// filename and argv of execl("/bin/true", "exk", "37", NULL), whose string
// literals the child has not mapped yet when it calls exec.
func TestStoredExecArgvGCC(t *testing.T) {
	testutil.RequireBPF(t)
	bin := testutil.BuildC(t, "gcc", testutil.ExecProgram, "-O0")
	a, err := Start(context.Background(), testConfig(t, "exec"), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st := a.Statuses(); len(st) != 1 || st[0].Err != nil {
		t.Fatalf("statuses %+v", st)
	}

	const n = 500
	cmd := exec.Command(bin, "literal", strconv.Itoa(n))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	q := store.Query{Type: "exec", Match: []string{"ppid=" + strconv.Itoa(cmd.Process.Pid)}, Limit: 2 * n}
	var res *store.Result
	for deadline := time.Now().Add(60 * time.Second); ; {
		if res, err = a.events.Query(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		if len(res.Events) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the store for a condition, with a deadline
	}
	if len(res.Events) != n {
		t.Fatalf("%d exec events stored for the %d children of %d", len(res.Events), n, cmd.Process.Pid)
	}
	bad := 0
	for _, raw := range res.Events {
		var e struct {
			Comm                string   `json:"comm"`
			Filename            string   `json:"filename"`
			FilenameUnavailable *bool    `json:"filename_unavailable"`
			Argv                []string `json:"argv"`
			ArgvTruncated       *bool    `json:"argv_truncated"`
			ArgvUnavailable     *bool    `json:"argv_unavailable"`
			Ret                 *int     `json:"ret"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if e.Comm != "true" || e.Filename != "/bin/true" || !slices.Equal(e.Argv, []string{"exk", "37"}) ||
			e.FilenameUnavailable == nil || *e.FilenameUnavailable || e.ArgvTruncated == nil || *e.ArgvTruncated ||
			e.ArgvUnavailable == nil || *e.ArgvUnavailable || e.Ret == nil || *e.Ret != 0 {
			if bad++; bad <= 5 {
				t.Errorf("stored %s", raw)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d stored events wrong", bad, n)
	}
}
