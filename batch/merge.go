package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// ErrDifferentRuns means the files given to Merge hold results of different
// runs: other model files or other generation settings.
var ErrDifferentRuns = errors.New("results of different runs")

// Merged is what Merge wrote.
type Merged struct {
	// Files are the results files read.
	Files []string
	// Lines counts the results read; Duplicates those dropped because
	// their id had a result already (a success wins over a failure, then
	// the first success, then the last failure); Torn the unfinished last
	// lines of files still being written or killed mid-write.
	Lines, Duplicates, Torn int
	// Succeeded and Failed count the ids written.
	Succeeded, Failed int
	// MissingShards lists the shard numbers absent from Files when their
	// names (out.shard-00002-of-00004.jsonl) all give the same count.
	MissingShards []int
	ids           map[string]bool // id -> succeeded
}

// Has reports whether the merged file holds a result (failed or not) for id.
func (m *Merged) Has(id string) bool { _, ok := m.ids[id]; return ok }

// Merge joins the results files into out, one line per id (a file given
// twice is read once), and writes out atomically (the old file stays
// whole until the new one is complete). It refuses files whose results come
// from different runs (model checksums or settings differ), an output that
// is one of the inputs, and an existing output that is not a results file.
func Merge(out string, files []string) (*Merged, error) {
	files, err := uniqueFiles(files)
	if err != nil {
		return nil, err
	}
	if err := fileio.CheckOutput(out, files...); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	// A batch still appending to out (or another merge) holds its lock.
	lock, err := fileio.Lock(out)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	defer lock.Unlock()
	if err := checkResultsFile(out); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	m := &Merged{Files: files, ids: map[string]bool{}}
	m.MissingShards = missingShards(files)

	// Pass 1: pick one line per id, remembered by file and offset.
	type pick struct {
		file int
		off  int64
		ok   bool
	}
	picks := map[string]pick{}
	var run runKey
	for i, path := range files {
		err := readResultLines(path, func(r Result, pos linePos) error {
			m.Lines++
			if err := run.check(r, pos); err != nil {
				return err
			}
			ok := r.Error == ""
			if prev, seen := picks[r.ID]; seen {
				m.Duplicates++
				if prev.ok {
					return nil // the first success stays
				}
				// a success, or a later failure, replaces a failure
			}
			picks[r.ID] = pick{file: i, off: pos.off, ok: ok}
			return nil
		}, &m.Torn)
		if err != nil {
			return nil, err
		}
	}

	// Pass 2: copy the picked lines, file by file.
	err = fileio.WriteAtomic(out, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		for i, path := range files {
			err := readResultLines(path, func(r Result, pos linePos) error {
				p, ok := picks[r.ID]
				if !ok || p.file != i || p.off != pos.off {
					return nil
				}
				delete(picks, r.ID)
				m.ids[r.ID] = p.ok
				if p.ok {
					m.Succeeded++
				} else {
					m.Failed++
				}
				bw.Write(pos.line)
				return bw.WriteByte('\n')
			}, nil)
			if err != nil {
				return err
			}
		}
		if len(picks) > 0 {
			return fmt.Errorf("merge: %d results changed while being merged (is a batch still writing them?)", len(picks))
		}
		return bw.Flush()
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Missing returns the ids of the items of inputs (folders, manifests,
// globs, as batch reads them) that the merged file lacks, in input order,
// and how many items the inputs hold. The inputs are read as a stream.
func (m *Merged) Missing(inputs []string) ([]string, int, error) {
	var missing []string
	total, err := scanInputs(inputs, func(string) bool { return true }, func(it Item) error {
		if !m.Has(it.ID) {
			missing = append(missing, it.ID)
		}
		return nil
	})
	return missing, total, err
}

// uniqueFiles drops repeated files (the same path, or links to one file).
func uniqueFiles(files []string) ([]string, error) {
	if len(files) == 0 {
		return nil, errors.New("merge: no results file given")
	}
	// Each file is examined once; os.SameFile compares the results
	// (a thousand shards would otherwise take a million stat calls).
	var unique []string
	var infos []os.FileInfo
next:
	for _, f := range files {
		st, err := os.Stat(f)
		for i, u := range unique {
			if f == u || (err == nil && infos[i] != nil && os.SameFile(st, infos[i])) {
				continue next
			}
		}
		if err != nil {
			st = nil // reported when the file is read
		}
		unique, infos = append(unique, f), append(infos, st)
	}
	return unique, nil
}

// checkResultsFile refuses to replace an existing file whose first line is
// not a result (a manifest, a model, notes): only a results file, an empty
// file or a new path may be written.
func checkResultsFile(path string) error {
	f, err := fileio.OpenRegular(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	line, _, err := readLine(bufio.NewReader(f), nil)
	if err == io.EOF {
		return nil
	}
	if err == nil {
		_, err = parseResultLine(bytes.TrimSpace(line))
	}
	if err != nil {
		return fmt.Errorf("%s exists and is not a results file (%v): refusing to overwrite it: %w", path, err, ErrNotResults)
	}
	return nil
}

// linePos locates a line of a results file.
type linePos struct {
	path string
	n    int   // line number, from 1
	off  int64 // byte offset of the line's start
	line []byte
}

func (p linePos) String() string { return p.path + ":" + strconv.Itoa(p.n) }

// readResultLines calls fn for each result line of path. An unfinished
// last line (no line break, not JSON: a writer still at work or killed) is
// skipped and counted in torn when torn is not nil; any other line that is
// not a result is an error naming the file and line.
func readResultLines(path string, fn func(Result, linePos) error, torn *int) error {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var buf []byte
	var off int64
	for n := 1; ; n++ {
		line, complete, err := readLine(br, buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("merge: %s:%d: %w", path, n, err)
		}
		buf = line[:0]
		pos := linePos{path: path, n: n, off: off, line: line}
		off += int64(len(line)) + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r, err := parseResultLine(line)
		if err != nil {
			if !complete {
				if torn != nil {
					*torn++
				}
				return nil
			}
			return fmt.Errorf("merge: %s: not a result line: %v", pos, err)
		}
		if err := fn(r, pos); err != nil {
			return err
		}
	}
}

// runKey holds the model files and settings of the first result, which
// every other result must share.
type runKey struct {
	first *Result
	pos   linePos
	key   string
}

func (k *runKey) check(r Result, pos linePos) error {
	models, _ := json.Marshal(r.Models)
	settings, _ := json.Marshal(r.Settings) // map keys come out sorted
	key := string(models) + string(settings)
	if k.first == nil {
		k.first, k.pos, k.key = &r, pos, key
		return nil
	}
	if key == k.key {
		return nil
	}
	return fmt.Errorf("merge: %s and %s are %w (%s): merge only the shards of one run", k.pos, pos, ErrDifferentRuns, runDiff(*k.first, r))
}

// runDiff says how the models and settings of two results differ.
func runDiff(a, b Result) string {
	var diffs []string
	models := func(r Result) map[string]ModelFile {
		m := map[string]ModelFile{}
		for _, f := range r.Models {
			m[f.Role] = f
		}
		return m
	}
	ma, mb := models(a), models(b)
	for _, role := range unionKeys(ma, mb) {
		fa, fb := ma[role], mb[role]
		if fa.SHA256 != fb.SHA256 {
			diffs = append(diffs, fmt.Sprintf("%s model %s vs %s", role, describeModel(fa), describeModel(fb)))
		}
	}
	for _, key := range unionKeys(a.Settings, b.Settings) {
		va, _ := json.Marshal(a.Settings[key])
		vb, _ := json.Marshal(b.Settings[key])
		if !bytes.Equal(va, vb) {
			diffs = append(diffs, fmt.Sprintf("%s %s vs %s", key, va, vb))
		}
	}
	if len(diffs) == 0 {
		return "model list differs"
	}
	return strings.Join(diffs, ", ")
}

func describeModel(f ModelFile) string {
	if f.SHA256 == "" {
		return "none"
	}
	return fmt.Sprintf("%s (sha256 %.12s)", f.Name, f.SHA256)
}

func unionKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

var shardName = regexp.MustCompile(`\.shard-(\d+)-of-(\d+)(\.[^./]*)?$`)

// missingShards returns the shard numbers absent from files when every
// file is named as a shard of one count; nil otherwise.
func missingShards(files []string) []int {
	count := -1
	have := map[int]bool{}
	for _, f := range files {
		m := shardName.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			return nil
		}
		i, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		if count >= 0 && n != count {
			return nil
		}
		count = n
		have[i] = true
	}
	var missing []int
	for i := 0; i < count && len(missing) < 1000; i++ {
		if !have[i] {
			missing = append(missing, i)
		}
	}
	return missing
}
