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
	"strconv"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
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

// ErrNotResults means an existing output file is not a results file this
// program wrote, so it is left untouched rather than resumed or rewritten.
var ErrNotResults = errors.New("not a results file of xraygpt batch")

// Output is a JSONL results file that a rerun resumes. Each result is
// appended with one write of one whole line and synced, so a crash leaves at
// most a torn last line, which is removed when the file is reopened. Failed
// results are dropped then too, so their items run again; successful ones
// are kept and their IDs reported by Done.
//
// An Output holds an exclusive lock (see fileio.Lock) from OpenOutput to
// Close, so two runs never append to the same file. The file is created, or
// rewritten without its torn and failed lines, only when the first result is
// written: a run that fails before that leaves no file behind and the old
// file as it was.
type Output struct {
	path    string
	lock    *fileio.FileLock
	f       *os.File
	done    map[string]bool
	kept    []byte // the lines kept from the existing file, when rewrite
	rewrite bool   // the existing file has lines to drop
}

// OpenOutput locks path and reads the results it already holds. An existing
// file must be a results file: empty, or JSON lines each an object with the
// fields a Result always has (id, image, prompt, summary, timings); the last
// line may be torn by a crash. Anything else is refused with an error
// wrapping ErrNotResults and left as it is. A file locked by another run is
// refused with an error wrapping fileio.ErrLocked that names the holder.
func OpenOutput(path string) (*Output, error) {
	lock, err := fileio.Lock(path)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	o := &Output{path: path, lock: lock, done: map[string]bool{}}
	if err := o.load(); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("output %s: %w", path, err)
	}
	return o, nil
}

// resultKeys are the fields every line Output writes has.
var resultKeys = []string{"id", "image", "prompt", "summary", "timings"}

// load reads the existing file, if any, checking that it is a results file
// and noting the whole successful lines to keep.
func (o *Output) load() error {
	data, err := fileio.ReadRegular(o.path, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept bytes.Buffer
	for n := 1; len(data) > 0; n++ {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		data = rest
		if len(bytes.TrimSpace(line)) == 0 {
			o.rewrite = true
			continue
		}
		if !complete {
			// A crash can tear the last line; it must still look like the start of one.
			if !bytes.HasPrefix(line, []byte(`{"id":`)) {
				return fmt.Errorf("line %d: %.40q...: %w; refusing to resume or rewrite it", n, line, ErrNotResults)
			}
			o.rewrite = true
			continue
		}
		r, err := parseResultLine(line)
		if err != nil {
			return fmt.Errorf("line %d: %w: %w; refusing to resume or rewrite it", n, err, ErrNotResults)
		}
		if r.Error != "" || o.done[r.ID] {
			o.rewrite = true
			continue
		}
		o.done[r.ID] = true
		kept.Write(line)
		kept.WriteByte('\n')
	}
	if o.rewrite {
		o.kept = kept.Bytes()
	}
	return nil
}

// parseResultLine decodes one line, which must be a JSON object with every
// field in resultKeys and a non-empty id.
func parseResultLine(line []byte) (Result, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return Result{}, fmt.Errorf("not a JSON object (%v)", err)
	}
	for _, k := range resultKeys {
		if _, ok := fields[k]; !ok {
			return Result{}, fmt.Errorf("no %q field", k)
		}
	}
	var r Result
	if err := json.Unmarshal(line, &r); err != nil {
		return Result{}, fmt.Errorf("not a result (%v)", err)
	}
	if r.ID == "" {
		return Result{}, errors.New("empty id")
	}
	return r, nil
}

// begin rewrites the file without its dropped lines if needed, then opens
// it for appending, creating it if needed.
func (o *Output) begin() error {
	if o.rewrite {
		if err := fileio.WriteAtomic(o.path, 0o644, func(w io.Writer) error {
			_, err := w.Write(o.kept)
			return err
		}); err != nil {
			return err
		}
		o.rewrite, o.kept = false, nil
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	o.f = f
	return nil
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
	if o.f == nil {
		if o.lock == nil {
			return fmt.Errorf("output %s: closed", o.path)
		}
		if err := o.begin(); err != nil {
			return fmt.Errorf("output %s: %w", o.path, err)
		}
	}
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

// Close closes the file and releases the lock. It is safe to call more
// than once.
func (o *Output) Close() error {
	var err error
	if o.f != nil {
		err = o.f.Close()
		o.f = nil
	}
	if o.lock != nil {
		o.lock.Unlock()
		o.lock = nil
	}
	return err
}

// ReadResults reads a JSONL results file. A last line without a line break
// that is not JSON (torn by a crash mid-write) is skipped, as a resumed run
// drops it.
func ReadResults(path string) ([]Result, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var out []Result
	var buf []byte
	for line := 1; ; line++ {
		text, complete, err := readLine(br, buf)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, line, err)
		}
		buf = text[:0]
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var r Result
		if err := json.Unmarshal(text, &r); err != nil {
			if !complete { // torn by a crash mid-write, as Output and merge skip it
				return out, nil
			}
			return nil, fmt.Errorf("%s: line %d: %w", path, line, err)
		}
		out = append(out, r)
	}
}

// csvHeader is the first line of the CSV files WriteCSV writes.
var csvHeader = []string{"id", "image", "prompt", "summary", "error", "reference", "vision_ms", "prompt_ms", "generate_ms", "generated_tokens"}

// CheckCSV reports an error wrapping ErrNotResults when path exists and is
// not a CSV file WriteCSV wrote (empty, or starting with its header), so
// that WriteCSV would replace something else.
func CheckCSV(path string) error {
	f, err := fileio.OpenRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("csv %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	want := strings.Join(csvHeader, ",")
	if n > 0 && !strings.HasPrefix(string(head[:n]), want) {
		return fmt.Errorf("csv %s: does not start with %q: %w; refusing to replace it", path, want, ErrNotResults)
	}
	return nil
}

// WriteCSV writes results as CSV (id, image, prompt, summary, error, timings)
// to path through a temp file and rename.
func WriteCSV(path string, results []Result) error {
	var b bytes.Buffer
	if err := encodeCSV(&b, results); err != nil {
		return fmt.Errorf("csv %s: %w", path, err)
	}
	if err := CheckCSV(path); err != nil {
		return err
	}
	return fileio.WriteAtomic(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(b.Bytes())
		return err
	})
}

func encodeCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	for _, r := range results {
		cw.Write([]string{r.ID, r.Image, r.Prompt, r.Summary, r.Error, r.Reference,
			ms(r.Timings.VisionMS), ms(r.Timings.PromptMS), ms(r.Timings.GenerateMS), strconv.Itoa(r.Timings.GeneratedTokens)})
	}
	cw.Flush()
	return cw.Error()
}
