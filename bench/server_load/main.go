// Command server_load is a bounded load test of `xraygpt serve`: it starts
// the server, answers a set of distinct requests one at a time (the
// expected texts and the sequential peer figures), then sends REQUESTS
// requests from CLIENTS concurrent clients and checks that every request was
// answered with its own expected text or refused with 429 (none lost, none
// mixed up). It reports p50/p95 latency, throughput as a ratio to the
// sequential run, and the server's peak RSS; it exits 1 when a request was
// lost or got another request's answer.
//
//	go build -o bin/xraygpt ./cmd/xraygpt
//	go run ./bench/server_load -bin bin/xraygpt -requests 64 -clients 16 -parallel 4
//
// By default it runs the demo model on demo/example-xray.png and
// dicom/testdata/cr_small.dcm, greedy, so that each (image, question) pair
// has one right answer.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/timing"
)

var questions = []string{
	"Describe the given chest x-ray image in detail.",
	"Is the heart enlarged?",
	"Are there any signs of pleural effusion?",
	"What do you see in the lungs?",
}

func main() {
	bin := flag.String("bin", "bin/xraygpt", "the xraygpt binary")
	model := flag.String("model", "demo/radllama-demo-q8_0.gguf", "language model")
	vision := flag.String("vision", "demo/xraygpt-demo-vision.gguf", "vision model")
	images := flag.String("images", "demo/example-xray.png,dicom/testdata/cr_small.dcm", "comma-separated images")
	requests := flag.Int("requests", 64, "requests in the concurrent phase")
	clients := flag.Int("clients", 16, "concurrent clients")
	parallel := flag.Int("parallel", 4, "the server's --parallel")
	queue := flag.Int("queue", 4, "the server's --max-queue (fewer places than clients, so that some requests get 429)")
	maxTokens := flag.Int("max-tokens", 64, "max_tokens of each request")
	threads := flag.Int("threads", 0, "the server's --threads (0: its default)")
	flag.Parse()
	if err := run(*bin, *model, *vision, strings.Split(*images, ","), *requests, *clients, *parallel, *queue, *maxTokens, *threads); err != nil {
		fmt.Fprintf(os.Stderr, "server_load: %v\n", err)
		os.Exit(1)
	}
}

type item struct {
	image, question string
	body            []byte
	want            string
}

type result struct {
	item    int
	status  int
	text    string
	latency time.Duration
	err     error
}

func run(bin, model, vision string, images []string, requests, clients, parallel, queue, maxTokens, threads int) error {
	var items []*item
	for _, img := range images {
		data, err := os.ReadFile(img)
		if err != nil {
			return err
		}
		mt := "image/png"
		if strings.HasSuffix(strings.ToLower(img), ".dcm") {
			mt = "application/dicom"
		} else if strings.HasSuffix(strings.ToLower(img), ".jpg") || strings.HasSuffix(strings.ToLower(img), ".jpeg") {
			mt = "image/jpeg"
		}
		url := "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(data)
		for _, q := range questions {
			body, _ := json.Marshal(map[string]any{
				"temperature": 0, "max_tokens": maxTokens,
				"messages": []any{map[string]any{"role": "user", "content": []any{
					map[string]any{"type": "image_url", "image_url": map[string]any{"url": url}},
					map[string]any{"type": "text", "text": q},
				}}},
			})
			items = append(items, &item{image: img, question: q, body: body})
		}
	}

	args := []string{"serve", "-m", model, "--vision", vision, "--port", "0", "--parallel", strconv.Itoa(parallel), "--max-queue", strconv.Itoa(queue)}
	if threads > 0 {
		args = append(args, "--threads", strconv.Itoa(threads))
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	url, err := waitReady(stderr)
	if err != nil {
		return err
	}

	// Sequential: the expected answers and the peer figures.
	start := time.Now()
	var seqLat []time.Duration
	for _, it := range items {
		r := send(url, it.body)
		if r.err != nil || r.status != 200 {
			return fmt.Errorf("sequential %s / %q: status %d, %v", it.image, it.question, r.status, r.err)
		}
		it.want = r.text
		seqLat = append(seqLat, r.latency)
	}
	seqTime := time.Since(start)

	// Concurrent: requests round-robin over the items.
	jobs := make(chan int)
	results := make([]result, requests)
	var wg sync.WaitGroup
	start = time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := send(url, items[i%len(items)].body)
				r.item = i % len(items)
				results[i] = r
			}
		}()
	}
	for i := range requests {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	conTime := time.Since(start)

	var ok, refused, lost, mixed int
	var lat []time.Duration
	for i, r := range results {
		switch {
		case r.err != nil || (r.status != 200 && r.status != 429):
			lost++
			fmt.Fprintf(os.Stderr, "request %d: status %d, %v\n", i, r.status, r.err)
		case r.status == 429:
			refused++
		case r.text != items[r.item].want:
			mixed++
			fmt.Fprintf(os.Stderr, "request %d (%s / %q): %q, want %q\n", i, items[r.item].image, items[r.item].question, r.text, items[r.item].want)
		default:
			ok++
			lat = append(lat, r.latency)
		}
	}
	peak := peakRSS(cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	exitErr := cmd.Wait()

	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.*)$`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	fmt.Printf("server_load: %s, --parallel %d, --max-queue %d, max_tokens %d, %d distinct requests\n", cpu, parallel, queue, maxTokens, len(items))
	fmt.Printf("sequential: %d requests in %s, %.2f req/s, latency p50 %s\n", len(items), seqTime.Round(time.Millisecond), timing.PerSecond(len(items), seqTime), pct(seqLat, 50))
	fmt.Printf("concurrent: %d requests from %d clients in %s: %d answered, %d refused (429), %d lost, %d mixed up\n",
		requests, clients, conTime.Round(time.Millisecond), ok, refused, lost, mixed)
	if ok > 0 {
		fmt.Printf("concurrent: latency p50 %s, p95 %s (%.2fx / %.2fx the sequential p50); throughput %.2f answered req/s, %.2fx the sequential\n",
			pct(lat, 50), pct(lat, 95), ratio(pct(lat, 50), pct(seqLat, 50)), ratio(pct(lat, 95), pct(seqLat, 50)),
			timing.PerSecond(ok, conTime), timing.PerSecond(ok, conTime)/timing.PerSecond(len(items), seqTime))
	}
	fmt.Printf("server peak RSS: %.1f MiB; exit after SIGTERM: %v\n", float64(peak)/(1<<20), exitStatus(exitErr))
	if lost > 0 || mixed > 0 || exitErr != nil {
		return errors.New("requests lost or mixed up, or an unclean exit")
	}
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

func waitReady(r io.Reader) (string, error) {
	re := regexp.MustCompile(`ready: .* on (http://\S+)`)
	sc := bufio.NewScanner(r)
	found := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, r) // keep reading the access log
	}()
	select {
	case url := <-found:
		return url, nil
	case <-time.After(5 * time.Minute):
		return "", errors.New("the server was not ready in 5 minutes")
	}
}

func send(url string, body []byte) result {
	start := time.Now()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	var c struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	raw, err := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, latency: time.Since(start), err: err}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &c); err != nil || len(c.Choices) != 1 {
			r.err = fmt.Errorf("bad answer %q", raw)
		} else {
			r.text = c.Choices[0].Message.Content
		}
	}
	return r
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(time.Millisecond)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
