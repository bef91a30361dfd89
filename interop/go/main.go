// Command interop checks veritrail's Merkle tree, proofs, tiles and signed
// notes with golang.org/x/mod/sumdb (tlog and note), an implementation we did
// not write, and produces Go-made proofs and notes for veritrail to verify.
//
//	interop check rust.json   verify what veritrail produced
//	interop emit  > go.json   produce proofs and notes for veritrail
//
// Built offline in GOPATH mode against Debian's golang-golang-x-mod-dev; see
// run.sh.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proofDoc struct {
	Index   int64    `json:"index"`
	Size    int64    `json:"size,omitempty"`
	Old     int64    `json:"old"`
	New     int64    `json:"new,omitempty"`
	Proof   []string `json:"proof"`
	Root    string   `json:"root,omitempty"`
	OldRoot string   `json:"old_root,omitempty"`
	NewRoot string   `json:"new_root,omitempty"`
}

type rootDoc struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
}

type tileDoc struct {
	Size int64  `json:"size"`
	Path string `json:"path"`
	Data string `json:"data"`
}

type rustDoc struct {
	Entries     int64      `json:"entries"`
	Roots       []rootDoc  `json:"roots"`
	Inclusion   []proofDoc `json:"inclusion"`
	Consistency []proofDoc `json:"consistency"`
	Tiles       []tileDoc  `json:"tiles"`
	Vkey        string     `json:"vkey"`
	Notes       []string   `json:"notes"`
}

type goDoc struct {
	Roots       []rootDoc  `json:"roots"`
	Inclusion   []proofDoc `json:"inclusion"`
	Consistency []proofDoc `json:"consistency"`
	Vkey        string     `json:"vkey"`
	Notes       []string   `json:"notes"`
	Checkpoint  string     `json:"checkpoint"`
}

func entry(i int64) []byte { return []byte(fmt.Sprintf("entry %d\n", i)) }

// memTree stores every hash at x/mod's stored-hash indexes.
type memTree struct{ hashes []tlog.Hash }

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func build(n int64) *memTree {
	m := &memTree{}
	for i := int64(0); i < n; i++ {
		hs, err := tlog.StoredHashes(i, entry(i), m)
		must(err)
		m.hashes = append(m.hashes, hs...)
	}
	return m
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "go: FAIL:", err)
		os.Exit(1)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func hashOf(s string) tlog.Hash {
	h, err := tlog.ParseHash(s)
	must(err)
	return h
}

func hashes(ss []string) []tlog.Hash {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		out[i] = hashOf(s)
	}
	return out
}

func check(path string) {
	raw, err := os.ReadFile(path)
	must(err)
	var d rustDoc
	must(json.Unmarshal(raw, &d))
	t := build(d.Entries)
	roots := map[int64]tlog.Hash{}
	for _, r := range d.Roots {
		want, err := tlog.TreeHash(r.Size, t)
		must(err)
		if hashOf(r.Root) != want {
			fail("root at size %d: veritrail %s, x/mod %s", r.Size, r.Root, want)
		}
		roots[r.Size] = want
	}
	rootAt := func(s int64) tlog.Hash {
		if h, ok := roots[s]; ok {
			return h
		}
		h, err := tlog.TreeHash(s, t)
		must(err)
		roots[s] = h
		return h
	}
	for _, p := range d.Inclusion {
		th := rootAt(p.Size)
		err := tlog.CheckRecord(tlog.RecordProof(hashes(p.Proof)), p.Size, th, p.Index, tlog.RecordHash(entry(p.Index)))
		if err != nil {
			fail("inclusion proof %d@%d rejected by x/mod: %v", p.Index, p.Size, err)
		}
		if len(p.Proof) > 0 {
			bad := hashes(p.Proof)
			bad[len(bad)-1][3] ^= 1
			if tlog.CheckRecord(tlog.RecordProof(bad), p.Size, th, p.Index, tlog.RecordHash(entry(p.Index))) == nil {
				fail("x/mod accepted a tampered proof %d@%d", p.Index, p.Size)
			}
		}
	}
	for _, p := range d.Consistency {
		if p.Old == p.New {
			if len(p.Proof) != 0 {
				fail("consistency %d->%d should be empty", p.Old, p.New)
			}
			continue
		}
		err := tlog.CheckTree(tlog.TreeProof(hashes(p.Proof)), p.New, rootAt(p.New), p.Old, rootAt(p.Old))
		if err != nil {
			fail("consistency proof %d->%d rejected by x/mod: %v", p.Old, p.New, err)
		}
	}
	// Hash tiles: x/mod's tile data for the same tree, paths without its height element.
	for _, td := range d.Tiles {
		data, err := base64.StdEncoding.DecodeString(td.Data)
		must(err)
		found := false
		for _, tile := range tlog.NewTiles(8, 0, td.Size) {
			p := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
			if p != td.Path {
				continue
			}
			found = true
			want, err := tlog.ReadTileData(tile, t)
			must(err)
			if !bytes.Equal(want, data) {
				fail("tile %s at size %d differs from x/mod", td.Path, td.Size)
			}
		}
		if !found {
			fail("x/mod has no tile %s at size %d", td.Path, td.Size)
		}
	}
	v, err := note.NewVerifier(d.Vkey)
	must(err)
	for _, msg := range d.Notes {
		n, err := note.Open([]byte(msg), note.VerifierList(v))
		if err != nil {
			fail("x/mod rejected a veritrail note: %v\n%s", err, msg)
		}
		if strings.HasPrefix(n.Text, "interop.example/rust\n") {
			// tlog.ParseTree only reads go.sum notes; C2SP checkpoints share its
			// body format after the origin line.
			lines := strings.Split(n.Text, "\n")
			size, err := strconv.ParseInt(lines[1], 10, 64)
			must(err)
			want, err := tlog.TreeHash(size, t)
			must(err)
			if hashOf(lines[2]) != want {
				fail("checkpoint root differs from x/mod")
			}
		}
		tampered := strings.Replace(msg, "\n", "\nx", 1)
		if _, err := note.Open([]byte(tampered), note.VerifierList(v)); err == nil {
			fail("x/mod accepted a tampered veritrail note")
		}
	}
	fmt.Printf("go: x/mod verified %d roots, %d inclusion proofs, %d consistency proofs, %d tiles, %d notes from veritrail\n",
		len(d.Roots), len(d.Inclusion), len(d.Consistency), len(d.Tiles), len(d.Notes))
}

func emit() {
	const n = 1000
	t := build(n)
	var d goDoc
	root := func(s int64) tlog.Hash {
		h, err := tlog.TreeHash(s, t)
		must(err)
		return h
	}
	for s := int64(1); s <= n; s += 37 {
		d.Roots = append(d.Roots, rootDoc{s, root(s).String()})
		for _, i := range []int64{0, s / 2, s - 1} {
			p, err := tlog.ProveRecord(s, i, t)
			must(err)
			d.Inclusion = append(d.Inclusion, proofDoc{Index: i, Size: s, Proof: strs(p), Root: root(s).String()})
		}
		for _, o := range []int64{1, s / 2, s - 1} {
			if o < 1 || o >= s {
				continue
			}
			p, err := tlog.ProveTree(s, o, t)
			must(err)
			d.Consistency = append(d.Consistency, proofDoc{Old: o, New: s, Proof: strs(p), OldRoot: root(o).String(), NewRoot: root(s).String()})
		}
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "interop.example/go")
	must(err)
	signer, err := note.NewSigner(skey)
	must(err)
	d.Vkey = vkey
	for _, text := range []string{"hello from x/mod\n", "two\n\nparagraphs\n"} {
		msg, err := note.Sign(&note.Note{Text: text}, signer)
		must(err)
		d.Notes = append(d.Notes, string(msg))
	}
	cp := fmt.Sprintf("interop.example/go\n%d\n%s\n", n, root(n))
	msg, err := note.Sign(&note.Note{Text: cp}, signer)
	must(err)
	d.Checkpoint = string(msg)
	out, err := json.Marshal(d)
	must(err)
	os.Stdout.Write(out)
}

func strs(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// readAt reads one file of a tlog-tiles tree: from a directory, or over
// HTTP when base is an http(s) URL (a bucket's endpoint, a server).
func readAt(base, rel string) ([]byte, error) {
	if strings.HasPrefix(base, "http://") || strings.HasPrefix(base, "https://") {
		resp, err := http.Get(strings.TrimSuffix(base, "/") + "/" + rel)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s", rel, resp.Status)
		}
		return b, nil
	}
	return os.ReadFile(base + "/" + rel)
}

// dirTiles serves a C2SP tlog-tiles directory (or URL prefix) to x/mod's
// tile reader, whose paths carry the tile height ("tile/8/...") that C2SP
// dropped.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		b, err := readAt(d.dir, p)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// checkTiles verifies a static tlog-tiles export: the checkpoint signature,
// every hash tile against the signed root (x/mod's TileHashReader checks each
// tile it reads), and every entry of every bundle against its leaf hash.
// dir may be an http(s) URL prefix: a bucket's S3 endpoint.
func checkTiles(dir, vkey string) {
	msg, err := readAt(dir, "checkpoint")
	must(err)
	v, err := note.NewVerifier(vkey)
	must(err)
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("x/mod rejected the exported checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	must(err)
	root := hashOf(lines[2])
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, dirTiles{dir})
	th, err := tlog.TreeHash(size, hr)
	if err != nil || th != root {
		fail("tree hash from the exported tiles: %v (%v != %v)", err, th, root)
	}
	var idx int64
	for idx < size {
		w := size - idx
		if w > 256 {
			w = 256
		}
		p := strings.Replace(tlog.Tile{H: 8, L: 0, N: idx / 256, W: int(w)}.Path(), "tile/8/0/", "tile/entries/", 1)
		b, err := readAt(dir, p)
		must(err)
		for k := int64(0); k < w; k++ {
			if len(b) < 2 {
				fail("bundle %s ends early", p)
			}
			l := int(b[0])<<8 | int(b[1])
			if len(b) < 2+l {
				fail("bundle %s: entry runs past the end", p)
			}
			entry := b[2 : 2+l]
			b = b[2+l:]
			hs, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, idx+k)})
			must(err)
			if hs[0] != tlog.RecordHash(entry) {
				fail("entry %d does not match its authenticated leaf hash", idx+k)
			}
			if k == 0 || k == w-1 {
				proof, err := tlog.ProveRecord(size, idx+k, hr)
				must(err)
				if err := tlog.CheckRecord(proof, size, root, idx+k, tlog.RecordHash(entry)); err != nil {
					fail("inclusion of entry %d: %v", idx+k, err)
				}
			}
		}
		if len(b) != 0 {
			fail("bundle %s has trailing bytes", p)
		}
		idx += w
	}
	fmt.Printf("go: x/mod verified the exported tiles of %d entries against the signed checkpoint\n", size)
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "check-tiles" {
		checkTiles(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) >= 3 && os.Args[1] == "check" {
		check(os.Args[2])
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "emit" {
		emit()
		return
	}
	fmt.Fprintln(os.Stderr, "usage: interop check FILE | interop emit")
	os.Exit(2)
}
