package batch

import (
	"bufio"
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
)

// Item is one image to summarize.
type Item struct {
	ID        string `json:"id"`
	Image     string `json:"image"`
	Prompt    string `json:"prompt,omitempty"`
	Reference string `json:"reference,omitempty"`
}

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
	var items []Item
	for _, in := range inputs {
		got, err := collectOne(in)
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("no images found in %s", strings.Join(inputs, ", "))
	}
	seen := make(map[string]string, len(items))
	for _, it := range items {
		if prev, dup := seen[it.ID]; dup {
			return nil, fmt.Errorf("duplicate id %q (%s and %s): give the images distinct names or use a manifest", it.ID, prev, it.Image)
		}
		seen[it.ID] = it.Image
	}
	return items, nil
}

func collectOne(in string) ([]Item, error) {
	if strings.ContainsAny(in, "*?[") {
		if _, err := os.Stat(in); err != nil { // a real file named with glob characters wins
			matches, err := filepath.Glob(in)
			if err != nil {
				return nil, fmt.Errorf("pattern %s: %w", in, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("pattern %s matches no file", in)
			}
			var items []Item
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && !st.IsDir() && imageExts[strings.ToLower(filepath.Ext(m))] {
					items = append(items, Item{ID: trimExt(m), Image: m})
				}
			}
			return items, nil
		}
	}
	st, err := os.Stat(in)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", in, err)
	}
	switch {
	case st.IsDir():
		return walkFolder(in)
	case IsManifest(in):
		return ReadManifest(in)
	default:
		return []Item{{ID: trimExt(filepath.Base(in)), Image: in}}, nil
	}
}

func trimExt(p string) string { return strings.TrimSuffix(p, filepath.Ext(p)) }

func walkFolder(root string) ([]Item, error) {
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
			items = append(items, Item{ID: filepath.ToSlash(trimExt(rel)), Image: path})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("folder %s: %w", root, err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	return items, nil
}

// ReadManifest reads a CSV (with a header row) or JSONL manifest with the
// fields id, image, and optionally prompt and reference (report is accepted
// for reference). Relative image paths are resolved against the manifest's
// folder. A row without image is an error naming the line.
func ReadManifest(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	var items []Item
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		items, err = readCSV(f)
	} else {
		items, err = readJSONL(f)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range items {
		if !filepath.IsAbs(items[i].Image) {
			items[i].Image = filepath.Join(dir, items[i].Image)
		}
	}
	return items, nil
}

// maxLine bounds one manifest line (a long reference report fits easily).
const maxLine = 1 << 20

func readJSONL(r io.Reader) ([]Item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var items []Item
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var row struct {
			Item
			Report string `json:"report"`
		}
		if err := json.Unmarshal([]byte(text), &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if row.Reference == "" {
			row.Reference = row.Report
		}
		it, err := checkItem(row.Item, line)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

func readCSV(r io.Reader) ([]Item, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col["image"]; !ok {
		return nil, errors.New("header has no image column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var items []Item
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		it := Item{ID: get(rec, "id"), Image: get(rec, "image"), Prompt: get(rec, "prompt"), Reference: get(rec, "reference")}
		if it.Reference == "" {
			it.Reference = get(rec, "report")
		}
		if it, err = checkItem(it, line); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func checkItem(it Item, line int) (Item, error) {
	if it.Image == "" {
		return it, fmt.Errorf("line %d: no image", line)
	}
	if it.ID == "" {
		it.ID = trimExt(filepath.ToSlash(it.Image))
	}
	return it, nil
}
