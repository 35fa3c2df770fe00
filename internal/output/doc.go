// Package output renders events for people at a terminal: aligned columns
// with a header, laid out from each event's kind (its columns, widths and
// alignment) and the cells the event makes, or one JSON object per line in
// event's wire encoding. It knows no event type: a kind built at run time
// renders as a built-in one does.
package output
