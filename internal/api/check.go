package api

import (
	"fmt"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Limits every PromQL query is checked against before it is evaluated.
// What evaluation may then use is bounded by Limits (timeout, samples).
const (
	// MaxPoints bounds the points per series of a range query and the steps
	// in a subquery's range, as Prometheus's 11,000-points rule.
	MaxPoints = 11000
	// MaxQueryBytes, MaxQueryNodes and MaxQueryDepth bound an expression's
	// length, its size (lexer tokens before parsing, syntax tree nodes
	// after) and its nesting. Parsing and preparing an expression take
	// time quadratic in its nesting, before evaluation can be cancelled.
	MaxQueryBytes = 64 << 10
	MaxQueryNodes = 10000
	MaxQueryDepth = 1000
	// MaxSubquerySteps bounds the steps the engine evaluates for all the
	// subqueries of a query together. Each subquery is evaluated over the
	// outer evaluation's whole range plus its own, and the engine keeps
	// per-step state for each step before any sample limit applies.
	MaxSubquerySteps = 2_000_000
)

// evalRange is the time range and step, in milliseconds, an expression is
// evaluated over, as the engine's evaluator holds them. An instant query
// has start == end.
type evalRange struct{ start, end, step int64 }

// checkQuery checks qs before evaluation: its size, then that every
// subquery stays within MaxPoints steps and all together within
// MaxSubquerySteps over r. subqueryStep gives the step of a subquery that
// has none, from its range (both ms), as the engine's
// NoStepSubqueryIntervalFn. Errors are the client's: bad_data.
func checkQuery(p parser.Parser, qs string, r evalRange, subqueryStep func(int64) int64) error {
	if len(qs) > MaxQueryBytes {
		return fmt.Errorf("query too large: %d bytes, at most %d", len(qs), MaxQueryBytes)
	}
	lex := parser.Lex(qs)
	var it parser.Item
	for n := 0; ; n++ {
		if n > MaxQueryNodes {
			return fmt.Errorf("query too large: more than %d tokens", MaxQueryNodes)
		}
		lex.NextItem(&it)
		if it.Typ == parser.EOF || it.Typ == parser.ERROR {
			break // the parser reports lexer errors
		}
	}
	expr, err := p.ParseExpr(qs)
	if err != nil {
		return err
	}
	nodes := 0
	if err := size(expr, 1, &nodes); err != nil {
		return err
	}
	// Resolve duration expressions ([5m+step()]) and @ start()/end() as
	// the engine does, on this copy of the tree.
	start, end := time.UnixMilli(r.start), time.UnixMilli(r.end)
	if expr, err = promql.PreprocessExpr(expr, start, end, time.Duration(r.step)*time.Millisecond); err != nil {
		return err
	}
	var total int64
	return subqueries(expr, r, subqueryStep, &total)
}

// size counts nodes and checks the nesting.
func size(n parser.Node, depth int, nodes *int) error {
	if depth > MaxQueryDepth {
		return fmt.Errorf("query too deeply nested: more than %d levels", MaxQueryDepth)
	}
	if *nodes++; *nodes > MaxQueryNodes {
		return fmt.Errorf("query too large: more than %d nodes", MaxQueryNodes)
	}
	for c := range parser.ChildrenIter(n) {
		if err := size(c, depth+1, nodes); err != nil {
			return err
		}
	}
	return nil
}

// subqueries checks each subquery under n, evaluated over r, and adds the
// steps each is evaluated on to total.
func subqueries(n parser.Node, r evalRange, subqueryStep func(int64) int64, total *int64) error {
	switch n := n.(type) {
	case *parser.StepInvariantExpr:
		r.end = r.start // evaluated once, at the start
	case *parser.SubqueryExpr:
		rng := n.Range.Milliseconds()
		step := n.Step.Milliseconds()
		if step <= 0 {
			step = subqueryStep(rng)
		}
		if step <= 0 {
			step = 1
		}
		if rng/step > MaxPoints {
			return fmt.Errorf("subquery %s: %s range over %s steps is %d points, more than %d: use a larger step",
				subqueryText(n), n.Range, time.Duration(step)*time.Millisecond, rng/step, MaxPoints)
		}
		r = subqueryRange(r, n.OriginalOffset.Milliseconds(), rng, step, n.Timestamp != nil || n.StartOrEnd != 0)
		if steps := (r.end-r.start)/r.step + 1; steps > 0 {
			*total += steps
		}
		if *total > MaxSubquerySteps {
			return fmt.Errorf("subqueries evaluated on more than %d steps in all: shorten the query's range or use larger subquery steps", MaxSubquerySteps)
		}
	}
	for c := range parser.ChildrenIter(n) {
		if err := subqueries(c, r, subqueryStep, total); err != nil {
			return err
		}
	}
	return nil
}

// subqueryRange is the range a subquery's expression is evaluated over,
// aligned to its own step, as Prometheus's engine computes it.
func subqueryRange(r evalRange, offset, rng, step int64, fixed bool) evalRange {
	end := r.end
	if fixed {
		end = r.start
	} else if r.step > 0 {
		end = r.start + ((r.end-r.start)/r.step)*r.step
	}
	start := step * ((r.start - offset - rng) / step)
	if start <= r.start-offset-rng {
		start += step
	}
	return evalRange{start: start, end: end - offset, step: step}
}

// subqueryText shortens a subquery for an error message.
func subqueryText(n *parser.SubqueryExpr) string {
	s := n.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
