package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Item is one image to summarize.
type Item struct {
	ID        string `json:"id"`
	Image     string `json:"image"`
	Prompt    string `json:"prompt,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// MaxManifestLine is the longest manifest line (a JSONL line, or a CSV
// record with its quoted line breaks) that is read: 16 MiB, far above any
// report, so that a corrupt or hostile file cannot take all memory.
const MaxManifestLine = 16 << 20

// ErrLineTooLong means a manifest line is longer than MaxManifestLine.
var ErrLineTooLong = fmt.Errorf("line longer than %d MiB", MaxManifestLine>>20)

// imageExts are the file name extensions taken from folders and globs.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".dcm": true, ".dicom": true}

// IsManifest reports whether path names a manifest (.csv, .jsonl or .ndjson).
func IsManifest(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".jsonl", ".ndjson":
		return true
	}
	return false
}

// Collect expands inputs into items, in order: a folder is searched
// recursively for images (.png, .jpg, .jpeg, .dcm), a manifest is read with
// ReadManifest, a pattern with glob characters is expanded, and any other
// path is taken as one image. Images found in folders and globs get their
// path (relative to the folder, without extension) as ID. IDs must be unique.
func Collect(inputs []string) ([]Item, error) {
	return CollectShard(inputs, Shard{})
}

// CollectShard is Collect keeping only the items of shard s. Manifests are
// read as a stream and folders walked once, so memory grows with the
// shard's items, not with the inputs. IDs must be unique within the shard;
// two items with one ID always fall in the same shard, so every duplicate is
// found by the task that would run it. A shard may be empty, but the inputs
// may not.
func CollectShard(inputs []string, s Shard) ([]Item, error) {
	var items []Item
	seen := map[string]string{}
	total, err := scanInputs(inputs, s.Contains, func(it Item) error {
		if prev, dup := seen[it.ID]; dup {
			return fmt.Errorf("duplicate id %q (%s and %s): give the images distinct names or use a manifest", it.ID, prev, it.Image)
		}
		seen[it.ID] = it.Image
		items = append(items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, fmt.Errorf("no images found in %s", strings.Join(inputs, ", "))
	}
	return items, nil
}

// scanInputs calls emit for each item of inputs whose ID keep accepts, in
// Collect's order, and returns how many items the inputs hold in all.
func scanInputs(inputs []string, keep func(id string) bool, emit func(Item) error) (int, error) {
	total := 0
	filter := func(it Item) error {
		total++
		if !keep(it.ID) {
			return nil
		}
		return emit(it)
	}
	for _, in := range inputs {
		if err := scanOne(in, keep, filter); err != nil {
			return total, err
		}
	}
	return total, nil
}

func scanOne(in string, keep func(string) bool, emit func(Item) error) error {
	if strings.ContainsAny(in, "*?[") {
		if _, err := os.Stat(in); err != nil { // a real file named with glob characters wins
			matches, err := filepath.Glob(in)
			if err != nil {
				return fmt.Errorf("pattern %s: %w", in, err)
			}
			if len(matches) == 0 {
				return fmt.Errorf("pattern %s matches no file", in)
			}
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && imageExts[strings.ToLower(filepath.Ext(m))] {
					if err := emit(Item{ID: trimExt(m), Image: m}); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	st, err := os.Stat(in)
	if err != nil {
		return fmt.Errorf("input %s: %w", in, err)
	}
	switch {
	case st.IsDir():
		return walkFolder(in, keep, emit)
	case IsManifest(in):
		return scanManifest(in, emit)
	default:
		return emit(Item{ID: trimExt(filepath.Base(in)), Image: in})
	}
}

func trimExt(p string) string { return strings.TrimSuffix(p, filepath.Ext(p)) }

// walkFolder walks root once and emits its images in ID order. Only the
// items keep accepts are held for sorting; the others are emitted (to be
// counted and dropped) as they are found.
func walkFolder(root string, keep func(string) bool, emit func(Item) error) error {
	var items []Item
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && imageExts[strings.ToLower(filepath.Ext(path))] {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			it := Item{ID: filepath.ToSlash(trimExt(rel)), Image: path}
			if !keep(it.ID) {
				return emit(it)
			}
			items = append(items, it)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("folder %s: %w", root, err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	for _, it := range items {
		if err := emit(it); err != nil {
			return err
		}
	}
	return nil
}

// ReadManifest reads a CSV (with a header row) or JSONL manifest with the
// fields id, image, and optionally prompt and reference (report is accepted
// for reference). Relative image paths are resolved against the manifest's
// folder. A row without image is an error naming the line.
func ReadManifest(path string) ([]Item, error) {
	var items []Item
	err := scanManifest(path, func(it Item) error {
		items = append(items, it)
		return nil
	})
	return items, err
}

// scanManifest reads the manifest at path as a stream, calling emit for
// each item. Only a regular file is opened (a named pipe would block).
func scanManifest(path string, emit func(Item) error) error {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	dir := filepath.Dir(path)
	resolve := func(it Item) error {
		if !filepath.IsAbs(it.Image) {
			it.Image = filepath.Join(dir, it.Image)
		}
		return emit(it)
	}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		err = readCSV(f, resolve)
	} else {
		err = readJSONL(f, resolve)
	}
	if err != nil {
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	return nil
}

// readLine returns the next line of br without its line break, holding at
// most MaxManifestLine bytes, and whether a line break ended it; io.EOF
// after the last line.
func readLine(br *bufio.Reader, buf []byte) ([]byte, bool, error) {
	buf = buf[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxManifestLine+1 { // +1: the line break
			return nil, false, ErrLineTooLong
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) > 0:
			return buf, false, nil
		default:
			return nil, false, err
		}
	}
}

func readJSONL(r io.Reader, emit func(Item) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for line := 1; ; line++ {
		text, _, err := readLine(br, buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		buf = text[:0]
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\ufeff"))
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		var row struct {
			Item
			Report string `json:"report"`
		}
		if err := json.Unmarshal(text, &row); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if row.Reference == "" {
			row.Reference = row.Report
		}
		it, err := checkItem(row.Item, line)
		if err != nil {
			return err
		}
		if err := emit(it); err != nil {
			return err
		}
	}
}

// recordGuard fails a read that goes more than limit bytes past mark, so
// that encoding/csv, which has no record length limit, cannot be made to
// hold an endless record.
type recordGuard struct {
	r           io.Reader
	read, limit int64
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if g.read >= g.limit {
		return 0, ErrLineTooLong
	}
	if room := g.limit - g.read; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

// csvLookahead is how far encoding/csv reads ahead of the record it
// returns: its bufio.Reader's 4 KiB, and a line break.
const csvLookahead = 4<<10 + 1

func readCSV(r io.Reader, emit func(Item) error) error {
	guard := &recordGuard{r: r, limit: MaxManifestLine + csvLookahead}
	cr := csv.NewReader(guard)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("line 1: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col["image"]; !ok {
		return errors.New("header has no image column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	next := 2 // the line after the last record read
	for {
		start := cr.InputOffset()
		guard.limit = start + MaxManifestLine + csvLookahead
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, ErrLineTooLong) {
			return fmt.Errorf("line %d: %w", next, err)
		}
		if err != nil {
			return err // a csv.ParseError names its line
		}
		line, _ := cr.FieldPos(0)
		if cr.InputOffset()-start > MaxManifestLine+2 { // +2: a CRLF
			return fmt.Errorf("line %d: %w", line, ErrLineTooLong)
		}
		last, _ := cr.FieldPos(len(rec) - 1)
		next = last + 1
		it := Item{ID: get(rec, "id"), Image: get(rec, "image"), Prompt: get(rec, "prompt"), Reference: get(rec, "reference")}
		if it.Reference == "" {
			it.Reference = get(rec, "report")
		}
		if it, err = checkItem(it, line); err != nil {
			return err
		}
		if err := emit(it); err != nil {
			return err
		}
	}
}

func checkItem(it Item, line int) (Item, error) {
	if it.Image == "" {
		return it, fmt.Errorf("line %d: no image", line)
	}
	if it.ID == "" {
		it.ID = trimExt(filepath.ToSlash(it.Image))
	}
	if it.ID == "" { // an image named "." or ".png"
		it.ID = filepath.ToSlash(it.Image)
	}
	return it, nil
}
