package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Timings of one image, in milliseconds.
type Timings struct {
	VisionMS        float64 `json:"vision_ms"`
	PromptMS        float64 `json:"prompt_ms"`
	GenerateMS      float64 `json:"generate_ms"`
	PromptTokens    int     `json:"prompt_tokens"`
	GeneratedTokens int     `json:"generated_tokens"`
	TotalMS         float64 `json:"total_ms"`
}

// ModelFile identifies a model file used for a result.
type ModelFile struct {
	Role   string `json:"role"` // "llm" or "vision"
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Result is one line of a batch output file.
type Result struct {
	ID        string         `json:"id"`
	Image     string         `json:"image"`
	Prompt    string         `json:"prompt"`
	Summary   string         `json:"summary"`
	Error     string         `json:"error,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"` // the image decoder's (e.g. multi-frame DICOM)
	Reference string         `json:"reference,omitempty"`
	Timings   Timings        `json:"timings"`
	Models    []ModelFile    `json:"models,omitempty"`
	Settings  map[string]any `json:"settings,omitempty"`
}

// Output is a JSONL results file that a rerun resumes. Each result is
// appended with one write of one whole line and synced, so a crash leaves at
// most a torn last line, which OpenOutput removes. Failed results are dropped
// when the file is reopened, so their items run again; successful ones are
// kept and their IDs reported by Done.
type Output struct {
	path string
	f    *os.File
	done map[string]bool
}

// OpenOutput opens or creates path for appending results, first rewriting it
// (through a temp file and rename) without a torn last line or failed results.
func OpenOutput(path string) (*Output, error) {
	o := &Output{path: path, done: map[string]bool{}}
	if err := o.repair(); err != nil {
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	o.f = f
	return o, nil
}

// repair reads the existing file, keeps whole successful lines and rewrites
// the file if anything else was there.
func (o *Output) repair() error {
	data, err := os.ReadFile(o.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept bytes.Buffer
	changed := false
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		data = rest
		var r Result
		if !complete || json.Unmarshal(line, &r) != nil || r.ID == "" || r.Error != "" || o.done[r.ID] {
			changed = changed || len(bytes.TrimSpace(line)) > 0 || !complete
			continue
		}
		o.done[r.ID] = true
		kept.Write(line)
		kept.WriteByte('\n')
	}
	if !changed {
		return nil
	}
	return writeFileAtomic(o.path, kept.Bytes())
}

// Done reports whether the output already holds a successful result for id.
func (o *Output) Done(id string) bool { return o.done[id] }

// Path returns the file's path.
func (o *Output) Path() string { return o.path }

// Write appends r as one line and syncs it to disk.
func (o *Output) Write(r Result) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	line = append(line, '\n')
	if _, err := o.f.Write(line); err != nil {
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("output %s: %w", o.path, err)
	}
	if r.Error == "" {
		o.done[r.ID] = true
	}
	return nil
}

// Close closes the file. It is safe to call more than once.
func (o *Output) Close() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}

// ReadResults reads a JSONL results file.
func ReadResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var out []Result
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// WriteCSV writes results as CSV (id, image, prompt, summary, error, timings)
// to path through a temp file and rename.
func WriteCSV(path string, results []Result) error {
	var b bytes.Buffer
	if err := encodeCSV(&b, results); err != nil {
		return fmt.Errorf("csv %s: %w", path, err)
	}
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("csv %s: %w", path, err)
	}
	return nil
}

func encodeCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "image", "prompt", "summary", "error", "reference", "vision_ms", "prompt_ms", "generate_ms", "generated_tokens"})
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	for _, r := range results {
		cw.Write([]string{r.ID, r.Image, r.Prompt, r.Summary, r.Error, r.Reference,
			ms(r.Timings.VisionMS), ms(r.Timings.PromptMS), ms(r.Timings.GenerateMS), strconv.Itoa(r.Timings.GeneratedTokens)})
	}
	cw.Flush()
	return cw.Error()
}

// writeFileAtomic writes data to a temp file beside path and renames it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp's 0600 is for secrets
		return err
	}
	return os.Rename(tmp.Name(), path)
}
