package profile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"sort"
	"strings"
)

// node is a flame graph frame: a function in a calling context.
type node struct {
	Name     string  `json:"n"`
	Value    int64   `json:"v"`
	Base     int64   `json:"b,omitempty"` // in a diff: the value in the base
	Children []*node `json:"c,omitempty"`
	index    map[string]*node
}

func tree(stacks []Folded) *node { return diffTree(stacks, nil) }

// diffTree builds the tree of stacks, each node also carrying its value in
// base. A frame only in base is kept with a zero value, so what vanished
// can be found.
func diffTree(stacks, base []Folded) *node {
	root := &node{Name: "all", index: map[string]*node{}}
	add := func(s Folded, isBase bool) {
		n := root
		for i := 0; ; i++ {
			if isBase {
				n.Base += s.Value
			} else {
				n.Value += s.Value
			}
			if i == len(s.Frames) {
				return
			}
			f := s.Frames[i]
			c, ok := n.index[f]
			if !ok {
				c = &node{Name: f, index: map[string]*node{}}
				n.index[f] = c
				n.Children = append(n.Children, c)
			}
			n = c
		}
	}
	for _, s := range stacks {
		add(s, false)
	}
	for _, s := range base {
		add(s, true)
	}
	var sortRec func(n *node)
	sortRec = func(n *node) {
		sort.Slice(n.Children, func(i, j int) bool { return n.Children[i].Name < n.Children[j].Name })
		for _, c := range n.Children {
			sortRec(c)
		}
	}
	sortRec(root)
	return root
}

func depth(n *node) int {
	d := 0
	for _, c := range n.Children {
		d = max(d, depth(c))
	}
	return d + 1
}

// color picks a warm color from the name, orange for kernel frames, as
// flame graphs are usually colored.
func color(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	if strings.HasSuffix(name, KernelSuffix) {
		return fmt.Sprintf("rgb(%d,%d,%d)", 230, 140+v%50, 40+v%30)
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", 205+v%50, 80+v%120, 40+v%40)
}

const (
	flameWidth = 1200.0
	frameH     = 16
)

// WriteSVG renders a flame graph of the stacks: the root at the bottom,
// width proportional to value, a tooltip per frame.
func WriteSVG(w io.Writer, title, unit string, stacks []Folded) error {
	root := tree(stacks)
	d := depth(root)
	height := d*frameH + 40
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="%.0f" height="%d" xmlns="http://www.w3.org/2000/svg" font-family="Verdana,sans-serif" font-size="11">
<rect x="0" y="0" width="100%%" height="100%%" fill="#f8f8f0"/>
<text x="%.0f" y="20" text-anchor="middle" font-size="15">%s</text>
`, flameWidth, height, flameWidth/2, html.EscapeString(title))
	total := max(root.Value, 1)
	var draw func(n *node, x float64, level int)
	draw = func(n *node, x float64, level int) {
		wd := float64(n.Value) / float64(total) * flameWidth
		if wd < 0.1 {
			return
		}
		y := height - (level+1)*frameH - 4
		label := fmt.Sprintf("%s (%d %s, %.2f%%)", n.Name, n.Value, unit, 100*float64(n.Value)/float64(total))
		fmt.Fprintf(bw, `<g><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="2"/>`,
			html.EscapeString(label), x, y, wd, frameH-1, color(n.Name))
		if chars := int(wd / 7); chars >= 3 {
			text := n.Name
			if len(text) > chars {
				text = text[:chars-2] + ".."
			}
			fmt.Fprintf(bw, `<text x="%.1f" y="%d">%s</text>`, x+3, y+frameH-4, html.EscapeString(text))
		}
		bw.WriteString("</g>\n")
		cx := x
		for _, c := range n.Children {
			draw(c, cx, level+1)
			cx += float64(c.Value) / float64(total) * flameWidth
		}
	}
	draw(root, 0, 0)
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

// WriteHTML writes a self-contained interactive flame graph: click a frame
// to zoom into it, click the root to zoom out, search to highlight.
func WriteHTML(w io.Writer, title, unit string, stacks []Folded) error {
	return writeHTML(w, title, unit, tree(stacks), false)
}

// WriteDiffHTML writes a differential flame graph of stacks against base:
// widths are stacks' values; a frame is red where its share of the total
// grew since base, blue where it shrank, the deeper the color the larger
// the change, white where it held.
func WriteDiffHTML(w io.Writer, title, unit string, stacks, base []Folded) error {
	return writeHTML(w, title, unit, diffTree(stacks, base), true)
}

func writeHTML(w io.Writer, title, unit string, root *node, diff bool) error {
	data, err := json.Marshal(root)
	if err != nil {
		return err
	}
	// </script> cannot appear inside the JSON: json.Marshal escapes < and >.
	_, err = fmt.Fprintf(w, htmlPage, html.EscapeString(title), html.EscapeString(title), data, jsString(unit), diff)
	return err
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const htmlPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%s</title>
<style>
body{font:12px Verdana,sans-serif;margin:8px;background:#f8f8f0}
#g{position:relative;width:100%%}
.f{position:absolute;height:15px;overflow:hidden;white-space:nowrap;border-radius:2px;cursor:pointer;padding-left:3px;box-sizing:border-box;line-height:15px}
.f.hit{background:#c6f !important}
#info{height:18px;margin:6px 0}
</style></head><body>
<h3>%s</h3>
<input id="q" placeholder="search (regexp)" size="40"> <span id="info"></span>
<div id="g"></div>
<script>
const root=%s, unit=%s, diff=%t, H=16;
function delta(n){const a=n.v/Math.max(root.v,1),b=(n.b||0)/Math.max(root.b||0,1);return a-b}
function shade(n){const d=delta(n),k=Math.min(1,Math.abs(d)*5),c=Math.round(255*(1-k));
 return d>0?"rgb(255,"+c+","+c+")":d<0?"rgb("+c+","+c+",255)":"rgb(250,250,250)"}
function hue(n){let h=0;for(const c of n)h=(h*31+c.charCodeAt(0))>>>0;
 return n.endsWith("_[k]")?"rgb(230,"+(140+h%%50)+","+(40+h%%30)+")":"rgb("+(205+h%%50)+","+(80+h%%120)+","+(40+h%%40)+")"}
function depth(n){let d=0;for(const c of n.c||[])d=Math.max(d,depth(c));return d+1}
let focus=root;const g=document.getElementById("g"),info=document.getElementById("info");
function draw(){g.innerHTML="";const W=g.clientWidth,D=depth(focus);g.style.height=(D*H)+"px";
 const re=document.getElementById("q").value;let rx=null;try{if(re)rx=new RegExp(re)}catch(e){}
 (function walk(n,x,lvl){const w=n.v/focus.v*W;if(w<0.5)return;const d=document.createElement("div");
  d.className="f"+(rx&&rx.test(n.n)?" hit":"");d.style.left=x+"px";d.style.width=w+"px";
  d.style.top=((D-lvl-1)*H)+"px";d.style.background=diff?shade(n):hue(n.n);d.textContent=w>30?n.n:"";
  d.title=n.n+" ("+n.v+" "+unit+", "+(100*n.v/root.v).toFixed(2)+"%%"+(diff?"; base "+(n.b||0)+", "+(delta(n)>=0?"+":"")+(100*delta(n)).toFixed(2)+" points":"")+")";
  d.onclick=()=>{focus=(n===focus&&n.parent)?n.parent:n;draw()};g.appendChild(d);
  let cx=x;for(const c of n.c||[]){walk(c,cx,lvl+1);cx+=c.v/focus.v*W}})(focus,0,0);
 info.textContent=focus===root?"":"zoomed: "+focus.n+" (click it to zoom out)"}
(function link(n){for(const c of n.c||[]){c.parent=n;link(c)}})(root);
document.getElementById("q").oninput=draw;window.onresize=draw;draw();
</script></body></html>
`
