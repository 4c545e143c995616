package evaluate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Predictions spread over shard files are read as one list: a failure in
// one file gives way to a success in another; two successes are an error
// naming both places.
func TestEvaluateFileSet(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.jsonl", `{"id":"1","summary":"the lungs are clear","reference":"lungs are clear"}`+"\n"+`{"id":"2","error":"vision: broken","reference":"heart is normal"}`+"\n")
	b := write("b.jsonl", `{"id":"2","summary":"heart is normal","reference":"heart is normal"}`+"\n"+`{"id":"3","summary":"no effusion","reference":"no effusion"}`+"\n")
	res, err := EvaluateFileSet(context.Background(), []string{a, b}, "", Options{Stemming: StemOff})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 3 || len(res.Failed) != 0 || res.Items[1].ID != "2" || res.Items[1].Plain.Rouge1.F1 != 1 {
		t.Errorf("items %+v, failed %v", res.Items, res.Failed)
	}
	one, err := EvaluateFiles(context.Background(), b, "", Options{Stemming: StemOff})
	if err != nil || len(one.Items) != 2 {
		t.Errorf("one file: %v %+v", err, one)
	}
	_, err = EvaluateFileSet(context.Background(), []string{a, b, b}, "", Options{})
	if !errors.Is(err, ErrDuplicateID) || !strings.Contains(err.Error(), b+":1") {
		t.Errorf("a file twice: %v", err)
	}
}

// A named pipe is refused at once, not waited on.
func TestReadFileFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "preds.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := EvaluateFiles(context.Background(), fifo, "", Options{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, fileio.ErrNotRegular) || !strings.Contains(err.Error(), fifo) {
			t.Errorf("error %v; want one naming %s as not a regular file", err, fifo)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked on a named pipe")
	}
}
