package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPromptCache: a second process (a new engine) takes the system prompt
// from the cache file instead of decoding it and generates the same tokens;
// a corrupted file is detected, warned about and rebuilt.
func TestPromptCache(t *testing.T) {
	dir := t.TempDir()
	var warnings []string
	open := func(cacheDir string) *Engine {
		e, err := Open(context.Background(), Options{
			ModelPath: demoLLM, VisionPath: demoVision, ContextSize: 1024, Threads: 1,
			PromptCacheDir: cacheDir, Warn: func(w string) { warnings = append(warnings, w) },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	summarize := func(e *Engine) *Answer {
		t.Helper()
		img, err := e.EncodeFile(context.Background(), "../demo/example-xray.png")
		if err != nil {
			t.Fatal(err)
		}
		chat, err := e.NewChat()
		if err != nil {
			t.Fatal(err)
		}
		defer chat.Close()
		chat.SetImage(img)
		ans, err := chat.Ask(context.Background(), DefaultQuestion, GenerateOptions{MaxTokens: 48, Temperature: 0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ans
	}
	plain := summarize(open(""))
	first := summarize(open(dir))
	files, _ := filepath.Glob(filepath.Join(dir, "prompt-*.kvcache"))
	if len(files) != 1 {
		t.Fatalf("cache files after the first run: %v", files)
	}
	if first.Timings.CachedTokens != 0 {
		t.Errorf("first run took %d positions from an empty cache", first.Timings.CachedTokens)
	}
	second := summarize(open(dir))
	if second.Timings.CachedTokens == 0 || second.Timings.PromptTokens+second.Timings.CachedTokens != second.PromptLength {
		t.Errorf("second run: %d decoded + %d cached of %d; want the system prompt from the cache",
			second.Timings.PromptTokens, second.Timings.CachedTokens, second.PromptLength)
	}
	for name, a := range map[string]*Answer{"first": first, "second": second} {
		if !slices.Equal(a.Tokens, plain.Tokens) {
			t.Errorf("%s run with the prompt cache: tokens %v, without %v", name, a.Tokens, plain.Tokens)
		}
	}
	if len(warnings) != 0 {
		t.Errorf("warnings with a good cache: %v", warnings)
	}

	// Corrupt the state: detected, warned, rebuilt, same tokens.
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-10] ^= 0x55
	os.WriteFile(files[0], data, 0o644)
	third := summarize(open(dir))
	if len(warnings) != 1 || !strings.Contains(warnings[0], "corrupt") || !strings.Contains(warnings[0], files[0]) {
		t.Errorf("warnings for a corrupt cache: %v", warnings)
	}
	if !slices.Equal(third.Tokens, plain.Tokens) || third.Timings.CachedTokens != 0 {
		t.Errorf("with a corrupt cache: tokens %v (want %v), %d cached", third.Tokens, plain.Tokens, third.Timings.CachedTokens)
	}
	warnings = nil
	if again := summarize(open(dir)); again.Timings.CachedTokens == 0 || len(warnings) != 0 {
		t.Errorf("the corrupt cache was not rebuilt: %d cached, warnings %v", again.Timings.CachedTokens, warnings)
	}

	// A file of another model or template under the same name is not used.
	if _, err := readPromptCache(files[0], [32]byte{1}); err == nil || !strings.Contains(err.Error(), "another model") {
		t.Errorf("stale key: %v", err)
	}
	os.WriteFile(files[0], []byte("short"), 0o644)
	if _, err := readPromptCache(files[0], [32]byte{}); err == nil || !strings.Contains(err.Error(), "not a prompt cache") {
		t.Errorf("truncated file: %v", err)
	}
}
