package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/batch"
)

func mergeCommand() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "join the shard files of a sharded batch into one results file",
		ArgsUsage: "SHARD...",
		Description: `SHARD is a results file or a glob pattern (quoted, e.g. 'out.shard-*-of-01000.jsonl').
Writes one line per id to --output (a successful result wins over a failed one) through a
temporary file, so the output is either the old file or the complete new one. Refuses shards of
different runs (other model files or generation settings). With --manifest (the batch's inputs:
manifests, folders or globs), prints the ids that have no result yet, one per line, and exits
with status 1 while any are missing: rerun the shards that hold them (a rerun resumes) and merge
again.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "merged JSONL results file"},
			&cli.StringSliceFlag{Name: "manifest", Usage: "the batch's input (manifest, folder or glob; repeatable): list the ids still missing"},
		},
		Action: runMerge,
	}
}

func runMerge(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("merge: no shard given (usage: xraygpt merge -o ALL.jsonl SHARD...)", 2)
	}
	if strings.TrimSpace(c.String("output")) == "" {
		return cli.Exit("merge: --output is empty", 2)
	}
	files, err := expandGlobs(c.Args().Slice())
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	m, err := batch.Merge(c.String("output"), files)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "merge: %d files, %d lines: %d ids (%d succeeded, %d failed), %d duplicate lines dropped",
		len(m.Files), m.Lines, m.Succeeded+m.Failed, m.Succeeded, m.Failed, m.Duplicates)
	if m.Torn > 0 {
		fmt.Fprintf(os.Stderr, ", %d unfinished last lines skipped", m.Torn)
	}
	fmt.Fprintf(os.Stderr, " -> %s\n", c.String("output"))
	if len(m.MissingShards) > 0 {
		fmt.Fprintf(os.Stderr, "merge: warning: no file for shard %s\n", joinInts(m.MissingShards))
	}
	inputs := c.StringSlice("manifest")
	if len(inputs) == 0 {
		return nil
	}
	missing, total, err := m.Missing(inputs)
	if err != nil {
		return err
	}
	for _, id := range missing {
		fmt.Fprintln(c.App.Writer, id)
	}
	if len(missing) > 0 {
		return cli.Exit(fmt.Sprintf("merge: %d of %d ids have no result yet (listed on stdout)", len(missing), total), 1)
	}
	fmt.Fprintf(os.Stderr, "merge: all %d ids of %s have a result\n", total, strings.Join(inputs, ", "))
	return nil
}

// expandGlobs expands the arguments that hold glob characters and name no
// file (a quoted 'out.shard-*.jsonl'); a pattern matching nothing is an error.
func expandGlobs(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		if _, err := os.Stat(a); err != nil && strings.ContainsAny(a, "*?[") {
			matches, err := filepath.Glob(a)
			if err != nil {
				return nil, fmt.Errorf("pattern %s: %w", a, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("pattern %s matches no file", a)
			}
			files = append(files, matches...)
			continue
		}
		files = append(files, a)
	}
	return files, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
