package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

// The demo model: a toy Vicuna-shaped model and vision model that write
// report-like text (demo/README.md).
const (
	demoLLM    = "../demo/radllama-demo-q8_0.gguf"
	demoVision = "../demo/xraygpt-demo-vision.gguf"
)

func openDemo(t *testing.T) *Engine {
	t.Helper()
	e, err := Open(context.Background(), Options{ModelPath: demoLLM, VisionPath: demoVision, ContextSize: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// sharedImages lists the X-rays in ../shared/data (PNG, JPEG, DICOM).
func sharedImages(t *testing.T) []string {
	t.Helper()
	return sharedtest.Glob(t, "*/*/*.png", "*/*/*/*.png", "*/*/*.jpg", "*/*.dcm")
}

// summarizeAll answers the default question about every image through a
// scheduler of n slots, all requests submitted at once.
func summarizeAll(t *testing.T, e *Engine, images []*Image, n int, gen GenerateOptions) []*Answer {
	t.Helper()
	s, err := e.NewScheduler(SchedulerOptions{Slots: n, Queue: len(images)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	answers := make([]*Answer, len(images))
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var streamed strings.Builder
			answers[i], errs[i] = s.Do(context.Background(), Request{
				Image: img, Turns: []Turn{{Question: DefaultQuestion}}, Gen: gen,
				OnText: func(p string) { streamed.WriteString(p) },
			})
			if errs[i] == nil && streamed.String() != answers[i].Text {
				errs[i] = errors.New("streamed text " + streamed.String() + " differs from the answer " + answers[i].Text)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%d slots, image %s: %v", n, images[i].Path, err)
		}
	}
	st := s.Stats()
	if st.Busy != 0 || st.Queued != 0 {
		t.Errorf("%d slots: after all answers, %d busy and %d queued", n, st.Busy, st.Queued)
	}
	if n > 1 && st.BatchedTokens == 0 {
		t.Errorf("%d slots: no step decoded tokens of several sequences", n)
	}
	return answers
}

// TestSlotsGiveTheTextOfOneAtATime summarizes every shared X-ray greedily
// through 1, 2, 4 and 8 slots at once: each text must equal the image's
// summary made alone (a fresh one-slot chat).
func TestSlotsGiveTheTextOfOneAtATime(t *testing.T) {
	paths := sharedImages(t)
	e := openDemo(t)
	ctx := context.Background()
	var images []*Image
	var alone []string
	gen := GenerateOptions{MaxTokens: 96, Temperature: 0, RepeatPenalty: 1}
	for _, p := range paths {
		img, err := e.EncodeFile(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
		chat, err := e.NewChat()
		if err != nil {
			t.Fatal(err)
		}
		chat.SetImage(img)
		ans, err := chat.Ask(ctx, DefaultQuestion, gen, nil)
		chat.Close()
		if err != nil {
			t.Fatal(err)
		}
		alone = append(alone, ans.Text)
	}
	for _, n := range []int{1, 2, 4, 8} {
		got := summarizeAll(t, e, images, n, gen)
		for i := range images {
			if got[i].Text != alone[i] {
				t.Errorf("%d slots, %s:\n got %q\nwant %q (alone)", n, paths[i], got[i].Text, alone[i])
			}
			if got[i].PromptLength != got[i].Timings.PromptTokens+got[i].Timings.CachedTokens {
				t.Errorf("%d slots, %s: prompt of %d positions, %d decoded + %d cached", n, paths[i],
					got[i].PromptLength, got[i].Timings.PromptTokens, got[i].Timings.CachedTokens)
			}
		}
	}
}

// TestSharedPrefixIsDecodedOnce: the system prompt is decoded for the first
// request only; later requests take it from the cache.
func TestSharedPrefixIsDecodedOnce(t *testing.T) {
	e := openDemo(t)
	img, err := e.EncodeFile(context.Background(), "../demo/example-xray.png")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := NewConversation().Prompt()
	head, err := e.llm.Tokenize(before, true, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.NewScheduler(SchedulerOptions{Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gen := GenerateOptions{MaxTokens: 8}
	first, err := s.Do(context.Background(), Request{Image: img, Turns: []Turn{{Question: "Is there an effusion?"}}, Gen: gen})
	if err != nil {
		t.Fatal(err)
	}
	if first.Timings.CachedTokens != 0 || first.Timings.PromptTokens != first.PromptLength {
		t.Errorf("first request: %d decoded, %d cached of %d", first.Timings.PromptTokens, first.Timings.CachedTokens, first.PromptLength)
	}
	// A second image on the other slot reuses only the head.
	other := *img
	other.Hash[0] ^= 1
	second, err := s.Do(context.Background(), Request{Image: &other, Turns: []Turn{{Question: "Is there an effusion?"}}, Gen: gen})
	if err != nil {
		t.Fatal(err)
	}
	if second.Timings.CachedTokens != len(head) {
		t.Errorf("second request took %d positions from the cache, want the %d of the system prompt", second.Timings.CachedTokens, len(head))
	}
	t.Logf("positions saved per image by the shared prefix: %d of %d", len(head), second.PromptLength)
}

// TestCancelOneLeavesOthers cancels one of three concurrent answers in the
// middle: the other two give the text they give alone, and the slot is
// free again.
func TestCancelOneLeavesOthers(t *testing.T) {
	paths := sharedImages(t)[:3]
	e := openDemo(t)
	ctx := context.Background()
	gen := GenerateOptions{MaxTokens: 64, Temperature: 0, RepeatPenalty: 1}
	var images []*Image
	for _, p := range paths {
		img, err := e.EncodeFile(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	alone := summarizeAll(t, e, images, 1, gen)
	s, err := e.NewScheduler(SchedulerOptions{Slots: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	answers := make([]*Answer, 3)
	errs := make([]error, 3)
	for i := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, pieces := ctx, 0
			onText := func(string) {}
			if i == 1 {
				rctx = cctx
				onText = func(string) {
					if pieces++; pieces == 3 {
						cancel()
					}
				}
			}
			answers[i], errs[i] = s.Do(rctx, Request{Image: images[i], Turns: []Turn{{Question: DefaultQuestion}}, Gen: gen, OnText: onText})
		}()
	}
	wg.Wait()
	if !errors.Is(errs[1], context.Canceled) {
		t.Errorf("cancelled request: %v, want context.Canceled", errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if answers[i].Text != alone[i].Text {
			t.Errorf("request %d next to a cancelled one:\n got %q\nwant %q", i, answers[i].Text, alone[i].Text)
		}
	}
	if st := s.Stats(); st.Busy != 0 {
		t.Errorf("%d slots busy after every request ended", st.Busy)
	}
}

// TestFullQueueIsErrBusy: with one slot busy and no room to wait, a request
// is refused at once with ErrBusy; a queued request whose context ends
// leaves the queue.
func TestFullQueueIsErrBusy(t *testing.T) {
	e := openDemo(t)
	img, err := e.EncodeFile(context.Background(), "../demo/example-xray.png")
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.NewScheduler(SchedulerOptions{Slots: 1, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	first := make(chan error, 1)
	go func() {
		_, err := s.Do(context.Background(), Request{Image: img, Turns: []Turn{{Question: DefaultQuestion}},
			Gen:    GenerateOptions{MaxTokens: 300, Temperature: 0},
			OnText: func(string) { once.Do(func() { close(started) }); <-release }})
		first <- err
	}()
	<-started
	qctx, qcancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() {
		_, err := s.Do(qctx, Request{Image: img, Turns: []Turn{{Question: DefaultQuestion}}})
		queued <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Queued != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	t0 := time.Now()
	if _, err := s.Do(context.Background(), Request{Image: img, Turns: []Turn{{Question: DefaultQuestion}}}); !errors.Is(err, ErrBusy) {
		t.Errorf("third request with the slot and the queue full: %v, want ErrBusy", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("ErrBusy took %v: the call waited", d)
	}
	qcancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled queued request: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first request: %v", err)
	}
	if st := s.Stats(); st.Queued != 0 || st.Busy != 0 {
		t.Errorf("after all: %+v", st)
	}
}

// TestSameImageConcurrentChats runs chats about the same image bytes from
// several goroutines (as batch does with several prompts on one image);
// under -race this catches writes to cached images.
func TestSameImageConcurrentChats(t *testing.T) {
	e := openDemo(t)
	s, err := e.NewScheduler(SchedulerOptions{Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	texts := make([]string, 4)
	for i := range texts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, err := e.EncodeFile(context.Background(), "../demo/example-xray.png")
			if err != nil {
				t.Error(err)
				return
			}
			chat := s.NewChat()
			chat.SetImage(img)
			for _, q := range []string{DefaultQuestion, "Is the heart enlarged?"} {
				ans, err := chat.Ask(context.Background(), q, GenerateOptions{MaxTokens: 24, Temperature: 0}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				texts[i] += ans.Text + "|"
			}
		}()
	}
	wg.Wait()
	for i := range texts {
		if texts[i] != texts[0] {
			t.Errorf("chat %d: %q, chat 0: %q", i, texts[i], texts[0])
		}
	}
}

// TestEncodeFileRefusesNonRegular: a named pipe, a device or a folder given
// as an image is refused at once (opening a FIFO to read it would block).
func TestEncodeFileRefusesNonRegular(t *testing.T) {
	e := openDemo(t)
	fifo := filepath.Join(t.TempDir(), "xray.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero", t.TempDir()} {
		done := make(chan error, 1)
		go func() {
			_, err := e.EncodeFile(context.Background(), p)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, fileio.ErrNotRegular) || !strings.Contains(err.Error(), p) {
				t.Errorf("EncodeFile(%s) = %v, want a not-a-regular-file error naming it", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("EncodeFile(%s) blocked", p)
		}
	}
}
