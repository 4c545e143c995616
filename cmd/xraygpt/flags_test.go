package main

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/engine/enginetest"
)

// TestEveryNumericFlagHasARange keeps flagRanges complete: a numeric flag
// added to any command without a range fails here.
func TestEveryNumericFlagHasARange(t *testing.T) {
	ranges := flagRanges()
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				switch f.(type) {
				case *cli.IntFlag, *cli.UintFlag, *cli.Float64Flag, *cli.Int64Flag, *cli.Uint64Flag, *cli.DurationFlag:
					if _, ok := ranges[f.Names()[0]]; !ok {
						t.Errorf("%s%s --%s: numeric flag without a range in flagRanges", prefix, c.Name, f.Names()[0])
					}
				}
			}
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp().Commands)
}

// noModels are model paths that do not exist: a command whose flags pass
// the checks then fails (exit 1) looking for them, without loading anything.
func noModels(t testing.TB) []string {
	dir := t.TempDir()
	return []string{"-m", filepath.Join(dir, "none.gguf"), "--vision", filepath.Join(dir, "none-vision.gguf")}
}

func TestNumericFlagsOutOfRange(t *testing.T) {
	bad := map[string][]string{
		"max-tokens":     {"0", "-5", "1048577"},
		"ctx-size":       {"-5", "0", "5000000000"},
		"threads":        {"-1", "2000", "100000"},
		"vision-threads": {"-1", "2000"},
		"gpu-layers":     {"-2", "-5", "99999999"},
		"temp":           {"-1", "NaN", "+Inf", "101"},
		"top-p":          {"-0.1", "1.5", "nan"},
		"top-k":          {"-1", "99999999999"},
		"min-p":          {"-0.5", "2"},
		"repeat-penalty": {"0", "-1", "1e9"},
		"seed":           {"4294967296"},
	}
	for name, values := range bad {
		for _, v := range values {
			args := append(append([]string{"summarize", "--" + name + "=" + v}, noModels(t)...), enginetest.Image())
			_, err, code := run(t, args...)
			if code != 2 || err == nil || !strings.Contains(err.Error(), "--"+name) || !strings.Contains(err.Error(), "want") {
				t.Errorf("--%s=%s: exit %d, %v; want exit 2 naming the flag and its range", name, v, code, err)
			}
		}
	}
	// The short forms are named as typed too, and other commands check theirs.
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"-n/--max-tokens", []string{"summarize", "-n", "0", enginetest.Image()}},
		{"-c/--ctx-size", []string{"summarize", "-c", "-5", enginetest.Image()}},
		{"-t/--threads", []string{"summarize", "-t", "100000", enginetest.Image()}},
		{"-n/--max-tokens", []string{"chat", "-n", "-5", enginetest.Image()}},
		{"-n/--max-tokens", []string{"batch", "-n", "0", "-o", filepath.Join(t.TempDir(), "o.jsonl"), enginetest.Image()}},
		{"--queue", []string{"batch", "--queue", "-1", "-o", filepath.Join(t.TempDir(), "o.jsonl"), enginetest.Image()}},
		{"-t/--threads", []string{"quantize", "-t", "2000", "a.gguf", "b.gguf", "Q8_0"}},
		{"--eva-blocks", []string{"convert", "vision", "--eva-blocks", "-1", "--eva", "a", "--qformer", "b", "-o", "x.gguf"}},
		{"-n", []string{"summarize", "-n", "abc", enginetest.Image()}},
		{"--prompt is empty", []string{"batch", "-p", " ", "-o", filepath.Join(t.TempDir(), "o.jsonl"), enginetest.Image()}},
		{"unknown type", []string{"quantize", "a.gguf", "b.gguf", "Q9_X"}},
	} {
		_, err, code := run(t, c.args...)
		if code != 2 || err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%v: exit %d, %v; want exit 2 naming %s", c.args, code, err, c.flag)
		}
	}
	// In range: the flags pass and the command goes on to look for the models.
	for _, args := range [][]string{
		{"-n", "1", "-c", "64", "-t", "1", "--vision-threads", "0", "-ngl", "-1", "--temp", "0", "--top-p", "1", "--top-k", "0", "--min-p", "0", "--repeat-penalty", "1.1", "--seed", "4294967295"},
		{"--temp", "100", "--top-p", "0", "-ngl", "0"},
	} {
		_, err, code := run(t, append(append(append([]string{"summarize"}, args...), noModels(t)...), enginetest.Image())...)
		if code != 1 || err == nil || !strings.Contains(err.Error(), "none.gguf") {
			t.Errorf("%v: exit %d, %v; want the missing model reported (exit 1)", args, code, err)
		}
	}
}

// numericFlags are the flags FuzzNumericFlags tries, with how the flag
// package parses their values.
var numericFlags = []struct {
	name string
	kind byte // 'i' int, 'u' uint, 'f' float
}{
	{"max-tokens", 'i'}, {"ctx-size", 'i'}, {"threads", 'i'}, {"vision-threads", 'i'}, {"gpu-layers", 'i'},
	{"top-k", 'i'}, {"seed", 'u'}, {"temp", 'f'}, {"top-p", 'f'}, {"min-p", 'f'}, {"repeat-penalty", 'f'},
}

// FuzzNumericFlags gives any value to any numeric flag of summarize: a
// value that parses and lies in the flag's range passes the checks (the
// command then fails to find the models: exit 1); anything else is a usage
// error (exit 2) naming the flag; nothing panics.
func FuzzNumericFlags(f *testing.F) {
	for i := range numericFlags {
		for _, v := range []string{"0", "1", "-1", "-5", "100000", "0.5", "nan", "1e309", "abc", "", "0x10", "4294967296", "1_000"} {
			f.Add(uint8(i), v)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		fl := numericFlags[int(which)%len(numericFlags)]
		r := flagRanges()[fl.name]
		var v float64
		var err error
		switch fl.kind {
		case 'i':
			var n int64
			n, err = strconv.ParseInt(value, 0, 64)
			v = float64(n)
		case 'u':
			var n uint64
			n, err = strconv.ParseUint(value, 0, 64)
			v = float64(n)
		case 'f':
			v, err = strconv.ParseFloat(value, 64)
		}
		valid := err == nil && r.contains(v)
		if valid && fl.kind != 'f' && v != math.Trunc(v) {
			valid = false
		}
		args := append(append([]string{"summarize", "--" + fl.name + "=" + value}, noModels(t)...), "x.png")
		_, rerr, code := run(t, args...)
		switch {
		case valid && code == 2:
			t.Errorf("--%s=%q is in range %s but refused: %v", fl.name, value, r, rerr)
		case !valid && (code != 2 || rerr == nil || !strings.Contains(rerr.Error(), fl.name)):
			t.Errorf("--%s=%q: exit %d, %v; want a usage error naming the flag", fl.name, value, code, rerr)
		}
	})
}
