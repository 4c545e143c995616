package batch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Lines far over bufio.Scanner's default and the old 1 MiB limit are read;
// a line over MaxManifestLine is an error naming the file and the line.
func TestManifestLongLines(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("No acute cardiopulmonary process. ", (3<<20)/34) // 3 MiB
	jsonl := filepath.Join(dir, "long.jsonl")
	writeFile(t, jsonl, `{"id":"a","image":"a.png"}`+"\n"+`{"id":"b","image":"b.png","report":"`+long+`"}`+"\n")
	items, err := Collect([]string{jsonl})
	if err != nil || len(items) != 2 || items[1].Reference != long {
		t.Fatalf("3 MiB line: %v (%d items)", err, len(items))
	}
	csvPath := filepath.Join(dir, "long.csv")
	writeFile(t, csvPath, "id,image,report\na,a.png,short\nb,b.png,\""+long+"\nsecond line\"\n")
	items, err = Collect([]string{csvPath})
	if err != nil || len(items) != 2 || !strings.HasSuffix(items[1].Reference, "second line") {
		t.Fatalf("3 MiB CSV record: %v (%d items)", err, len(items))
	}

	huge := strings.Repeat("x", MaxManifestLine+10)
	for name, content := range map[string]string{
		"huge.jsonl":    `{"id":"a","image":"a.png"}` + "\n\n" + `{"id":"b","image":"b.png","report":"` + huge + `"}` + "\n",
		"nobreak.jsonl": `{"id":"a","image":"a.png"}` + "\n\n" + huge,
		"huge.csv":      "id,image,report\na,a.png,x\nb,b.png,\"" + huge + "\"\n",
		"open.csv":      "id,image,report\na,a.png,x\nb,b.png,\"" + strings.Repeat("line\n", MaxManifestLine/5+10000),
	} {
		path := filepath.Join(dir, name)
		writeFile(t, path, content)
		_, err := Collect([]string{path})
		if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), path+": line 3") {
			t.Errorf("%s: error %v; want ErrLineTooLong at %s: line 3", name, err, path)
		}
	}
}

// A named pipe as a manifest is refused at once, not waited on forever.
func TestManifestFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "list.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Collect([]string{fifo})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, fileio.ErrNotRegular) || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("error %v; want one naming %s as a named pipe", err, fifo)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Collect blocked on a named pipe")
	}
	// A pipe matched by a glob is not taken as an image.
	dir := t.TempDir()
	syscall.Mkfifo(filepath.Join(dir, "p.png"), 0o644)
	writeFile(t, filepath.Join(dir, "a.png"), "x")
	items, err := Collect([]string{filepath.Join(dir, "*.png")})
	if err != nil || len(items) != 1 || items[0].ID != filepath.Join(dir, "a") {
		t.Errorf("glob over a pipe: %v %+v", err, items)
	}
}

// A shard holds only its items; a duplicate id is found by its shard, and
// an empty shard of non-empty inputs is no error.
func TestCollectShard(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := 0; i < 40; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":"i%d","image":"i%d.png"}`, i, i))
	}
	path := filepath.Join(dir, "m.jsonl")
	writeFile(t, path, strings.Join(lines, "\n"))
	all, err := Collect([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var joined []string
	for i := 0; i < 3; i++ {
		part, err := CollectShard([]string{path}, Shard{Index: i, Count: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range part {
			if ShardOf(it.ID, 3) != i {
				t.Errorf("shard %d holds %s", i, it.ID)
			}
		}
		joined = append(joined, ids(part)...)
	}
	if len(joined) != len(all) {
		t.Errorf("shards hold %d items, the manifest %d", len(joined), len(all))
	}

	writeFile(t, path, strings.Join(append(lines, `{"id":"i7","image":"again.png"}`), "\n"))
	dupShard := ShardOf("i7", 3)
	for i := 0; i < 3; i++ {
		_, err := CollectShard([]string{path}, Shard{Index: i, Count: 3})
		if (i == dupShard) != (err != nil && strings.Contains(err.Error(), `duplicate id "i7"`)) {
			t.Errorf("shard %d (duplicate in %d): %v", i, dupShard, err)
		}
	}

	one := filepath.Join(dir, "one.jsonl")
	writeFile(t, one, `{"id":"a","image":"a.png"}`)
	empty := 1 - ShardOf("a", 2)
	if items, err := CollectShard([]string{one}, Shard{Index: empty, Count: 2}); err != nil || len(items) != 0 {
		t.Errorf("empty shard: %v %v", err, items)
	}
	writeFile(t, filepath.Join(dir, "none.jsonl"), "\n")
	if _, err := CollectShard([]string{filepath.Join(dir, "none.jsonl")}, Shard{Index: 0, Count: 2}); err == nil {
		t.Error("empty manifest: no error")
	}
}

// fuzzManifest checks what every manifest reader must give: items with an image
// and an id, relative images resolved against the manifest's folder.
func fuzzManifest(t *testing.T, name string, data []byte) {
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := ReadManifest(path)
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
		return
	}
	for _, it := range items {
		if it.ID == "" || it.Image == "" || (!filepath.IsAbs(it.Image) && !strings.HasPrefix(it.Image, dir)) {
			t.Fatalf("bad item %+v", it)
		}
	}
	// The shards of the manifest are a partition of its items.
	n := 0
	for i := 0; i < 3; i++ {
		part, err := CollectShard([]string{path}, Shard{Index: i, Count: 3})
		if err != nil && !strings.Contains(err.Error(), "duplicate id") && !strings.Contains(err.Error(), "no images") {
			t.Fatalf("shard %d: %v (whole manifest read)", i, err)
		}
		n += len(part)
	}
	if ids := map[string]bool{}; len(items) > 0 {
		for _, it := range items {
			ids[it.ID] = true
		}
		if len(ids) == len(items) && n != len(items) {
			t.Fatalf("shards hold %d items, the manifest %d", n, len(items))
		}
	}
}

func FuzzManifestJSONL(f *testing.F) {
	f.Add([]byte(`{"id":"p1","image":"a.png","prompt":"Any effusion?","report":"No effusion."}` + "\n\n" + `{"image":"/abs/x.png"}` + "\n"))
	f.Add([]byte("\ufeff{\"image\":\"a.png\"}\r\n{\"image\":\"b.png\",\"reference\":\"x\"}"))
	f.Add([]byte(`{"id":1,"image":"a.png"}`))
	f.Add([]byte(`{"image":""}` + "\n" + `[1,2]`))
	f.Add([]byte(`{"id":"a","image":"a.png"}` + "\n" + `{"id":"a","image":"b.png"}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzManifest(t, "m.jsonl", data) })
}

func FuzzManifestCSV(f *testing.F) {
	f.Add([]byte("\ufeffid,image,reference\nq1,sub/b.JPG,\"Heart normal, lungs clear.\"\n"))
	f.Add([]byte("image\na.png\n\"b\nc.png\"\n"))
	f.Add([]byte("id,prompt\n1,x\n"))
	f.Add([]byte("ID, Image ,Report\n1,/x.png,\"unterminated\n"))
	f.Add([]byte("image,id\na.png\nb.png,b,extra\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzManifest(t, "m.csv", data) })
}

// BenchmarkCollectShard reads a 200,000-line manifest for one shard of 100;
// B/op shows the memory taken, which follows the shard, not the manifest.
//
//	go test ./batch -run - -bench CollectShard -benchmem
func BenchmarkCollectShard(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(&buf, `{"id":"p%07d","image":"files/p%07d.dcm","report":"The lungs are clear. No effusion or pneumothorax."}`+"\n", i, i)
	}
	path := filepath.Join(b.TempDir(), "m.jsonl")
	os.WriteFile(path, buf.Bytes(), 0o644)
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for range b.N {
		items, err := CollectShard([]string{path}, Shard{Index: 7, Count: 100})
		if err != nil || len(items) < 1500 {
			b.Fatal(err, len(items))
		}
	}
}
