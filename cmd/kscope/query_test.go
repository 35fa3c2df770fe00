package main

import (
	"bytes"
	"testing"
)

// Series print in the engine's order: a topk result stays sorted by value.
func TestPrintQueryResultKeepsOrder(t *testing.T) {
	data := `{"resultType":"vector","result":[
		{"metric":{"syscall":"read"},"value":[1700000000,"900"]},
		{"metric":{"syscall":"futex"},"value":[1700000000,"500"]},
		{"metric":{"syscall":"write"},"value":[1700000000,"20"]},
		{"metric":{"syscall":"close"},"value":[1700000000,"3"]}]}`
	var buf bytes.Buffer
	if err := printQueryResult(&buf, []byte(data)); err != nil {
		t.Fatal(err)
	}
	want := `{syscall="read"}   900
{syscall="futex"}  500
{syscall="write"}  20
{syscall="close"}  3
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}
