package evaluate

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Errors that callers may branch on. Each is wrapped with the file name and
// line that caused it.
var (
	// ErrSyntax: a line is not a JSON object, or the CSV is malformed.
	ErrSyntax = errors.New("syntax error")
	// ErrMissingID: a record has no id, or an empty one.
	ErrMissingID = errors.New("missing id")
	// ErrFieldType: a text field holds something other than a string.
	ErrFieldType = errors.New("field is not a string")
	// ErrDuplicateID: two records of one file share an id.
	ErrDuplicateID = errors.New("duplicate id")
	// ErrNoItems: no id has both a prediction and a reference.
	ErrNoItems = errors.New("no item has both a prediction and a reference")
)

// maxLine bounds one JSONL line, so that a corrupt file cannot take all
// memory.
const maxLine = 64 << 20

// Format is an input file's format.
type Format int

const (
	// FormatAuto picks by extension (.csv is CSV; .jsonl, .ndjson and .json
	// are JSONL) and otherwise by the first non-blank byte ('{' is JSONL).
	FormatAuto Format = iota
	// FormatJSONL is one JSON object per line; blank lines are skipped.
	FormatJSONL
	// FormatCSV is RFC 4180 CSV with a header row naming the columns.
	FormatCSV
)

// Fields names the JSON keys or CSV columns to read. Each empty field takes
// its default.
type Fields struct {
	// ID is the item's key; default "id". JSON numbers are accepted and
	// kept as written.
	ID string
	// Prediction is the generated text; default "prediction", then
	// "summary" (the batch command's output).
	Prediction string
	// Reference is the reference report; default "reference", then
	// "report".
	Reference string
}

func (f Fields) idKey() string {
	if f.ID != "" {
		return f.ID
	}
	return "id"
}

func (f Fields) predictionKeys() []string {
	if f.Prediction != "" {
		return []string{f.Prediction}
	}
	return []string{"prediction", "summary"}
}

func (f Fields) referenceKeys() []string {
	if f.Reference != "" {
		return []string{f.Reference}
	}
	return []string{"reference", "report"}
}

// Record is one row of a predictions or references file.
type Record struct {
	// ID joins predictions to references.
	ID string `json:"id"`
	// Prediction is the generated text; valid when HasPrediction.
	Prediction string `json:"prediction,omitempty"`
	// Reference is the reference text; valid when HasReference.
	Reference string `json:"reference,omitempty"`
	// HasPrediction and HasReference say whether the row had the field
	// (a JSON null or a missing column counts as absent; "" is present).
	HasPrediction bool `json:"-"`
	HasReference  bool `json:"-"`
	// Error is the row's "error" field, as the batch command writes for an
	// item that failed.
	Error string `json:"error,omitempty"`
	// Pos is "file:line" of the row, for messages.
	Pos string `json:"-"`
}

// ReadFile reads records from a JSONL or CSV file (see Format). Only a
// regular file is read: a named pipe or a folder is refused without
// blocking.
func ReadFile(path string, format Format, fields Fields) ([]Record, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if format == FormatAuto {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			format = FormatCSV
		case ".jsonl", ".ndjson", ".json":
			format = FormatJSONL
		}
	}
	return Read(f, path, format, fields)
}

// Read reads records from r; name labels error messages (a file name).
func Read(r io.Reader, name string, format Format, fields Fields) ([]Record, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if format == FormatAuto {
		format = sniff(br)
	}
	if format == FormatCSV {
		return readCSV(br, name, fields)
	}
	return readJSONL(br, name, fields)
}

// sniff returns FormatJSONL when the first non-blank byte (after a UTF-8
// BOM) is '{', else FormatCSV.
func sniff(br *bufio.Reader) Format {
	buf, _ := br.Peek(4096)
	buf = bytes.TrimPrefix(buf, []byte("\xef\xbb\xbf"))
	buf = bytes.TrimLeft(buf, " \t\r\n")
	if len(buf) > 0 && buf[0] == '{' {
		return FormatJSONL
	}
	return FormatCSV
}

func readJSONL(r io.Reader, name string, fields Fields) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var out []Record
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		pos := fmt.Sprintf("%s:%d", name, line)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
			if err == nil {
				err = errors.New("not an object")
			}
			return nil, fmt.Errorf("%s: %w: want one JSON object per line: %v", pos, ErrSyntax, err)
		}
		rec := Record{Pos: pos}
		id, err := jsonID(obj[fields.idKey()])
		if err != nil {
			return nil, fmt.Errorf("%s: field %q: %w", pos, fields.idKey(), err)
		}
		rec.ID = id
		if rec.Prediction, rec.HasPrediction, err = jsonText(obj, fields.predictionKeys()); err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
		if rec.Reference, rec.HasReference, err = jsonText(obj, fields.referenceKeys()); err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
		if rec.Error, _, err = jsonText(obj, []string{"error"}); err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: %w: line longer than %d MiB", name, line+1, ErrSyntax, maxLine>>20)
		}
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}

// jsonID accepts a non-empty string or a number (kept as written).
func jsonID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", ErrMissingID
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		if s == "" {
			return "", ErrMissingID
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("%w: want a string or a number", ErrMissingID)
	}
	return n.String(), nil
}

// jsonText returns the first of keys present with a non-null value.
func jsonText(obj map[string]json.RawMessage, keys []string) (string, bool, error) {
	for _, k := range keys {
		raw, ok := obj[k]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, fmt.Errorf("field %q: %w", k, ErrFieldType)
		}
		return s, true, nil
	}
	return "", false, nil
}

func readCSV(r io.Reader, name string, fields Fields) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", name, ErrSyntax, err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	idCol, ok := col[fields.idKey()]
	if !ok {
		return nil, fmt.Errorf("%s:1: %w: no %q column in the header", name, ErrMissingID, fields.idKey())
	}
	pick := func(keys []string) int {
		for _, k := range keys {
			if i, ok := col[k]; ok {
				return i
			}
		}
		return -1
	}
	predCol, refCol, errCol := pick(fields.predictionKeys()), pick(fields.referenceKeys()), pick([]string{"error"})
	var out []Record
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", name, ErrSyntax, err)
		}
		line, _ := cr.FieldPos(0)
		pos := fmt.Sprintf("%s:%d", name, line)
		rec := Record{Pos: pos, ID: strings.TrimSpace(row[idCol])}
		if rec.ID == "" {
			return nil, fmt.Errorf("%s: column %q: %w", pos, fields.idKey(), ErrMissingID)
		}
		if predCol >= 0 {
			rec.Prediction, rec.HasPrediction = row[predCol], true
		}
		if refCol >= 0 {
			rec.Reference, rec.HasReference = row[refCol], true
		}
		if errCol >= 0 {
			rec.Error = row[errCol]
		}
		out = append(out, rec)
	}
	return out, nil
}
