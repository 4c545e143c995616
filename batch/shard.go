package batch

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a run's items, numbered from 0. An item
// belongs to shard ShardOf(id, Count), so the parts do not depend on the
// order or number of the other items: adding items to a manifest moves no
// existing item to another shard. The zero Shard is the whole run.
type Shard struct {
	Index, Count int
}

// ShardOf returns the shard of count (>= 1) that holds id: the first eight
// bytes of the SHA-256 of the id, read big-endian, modulo count.
func ShardOf(id string, count int) int {
	sum := sha256.Sum256([]byte(id))
	return int(binary.BigEndian.Uint64(sum[:8]) % uint64(count))
}

// Contains reports whether the item id belongs to the shard.
func (s Shard) Contains(id string) bool {
	return s.Count <= 1 || ShardOf(id, s.Count) == s.Index
}

// String is "shard 2 of 4" (numbered from 0), or "all items".
func (s Shard) String() string {
	if s.Count == 0 {
		return "all items"
	}
	return fmt.Sprintf("shard %d of %d", s.Index, s.Count)
}

// Path returns the shard's output file next to out: out.jsonl becomes
// out.shard-00002-of-00004.jsonl. The whole run (Count 0) writes out itself.
func (s Shard) Path(out string) string {
	if s.Count == 0 {
		return out
	}
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s.shard-%05d-of-%05d%s", strings.TrimSuffix(out, ext), s.Index, s.Count, ext)
}

// The environment variables the cluster schedulers set in each task.
const (
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskStep  = "SLURM_ARRAY_TASK_STEP"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	EnvJobIndex       = "JOB_COMPLETION_INDEX" // Kubernetes Indexed Jobs
)

// ShardFlags are the command line's shard settings; a negative value means
// the flag was not given.
type ShardFlags struct {
	Index, Count int
}

// Sharded reports whether a run with these flags and environment is split
// into shards: when either flag is given, or inside a Slurm array task.
func (f ShardFlags) Sharded(getenv func(string) string) bool {
	return f.Index >= 0 || f.Count >= 0 || getenv(EnvSlurmTaskCount) != ""
}

// Resolve works out the shard from the flags and, where a flag is absent,
// the scheduler's environment (read through getenv, os.Getenv in the
// program). The index is the flag, else SLURM_ARRAY_TASK_ID minus
// SLURM_ARRAY_TASK_MIN (divided by SLURM_ARRAY_TASK_STEP for stepped
// arrays), else JOB_COMPLETION_INDEX; the count is the flag, else
// SLURM_ARRAY_TASK_COUNT (Kubernetes does not pass the count to pods). A
// missing, malformed or out-of-range value is an error naming its source.
func (f ShardFlags) Resolve(getenv func(string) string) (Shard, error) {
	count, countFrom := f.Count, "--shard-count"
	if count < 0 {
		v := getenv(EnvSlurmTaskCount)
		if v == "" {
			return Shard{}, fmt.Errorf("shard count unknown: give --shard-count (%s is not set; Kubernetes does not pass the count to pods)", EnvSlurmTaskCount)
		}
		n, err := envInt(EnvSlurmTaskCount, v)
		if err != nil {
			return Shard{}, err
		}
		count, countFrom = n, EnvSlurmTaskCount+"="+v
	}
	if count < 1 {
		return Shard{}, fmt.Errorf("shard count %d (from %s): want 1 or more", count, countFrom)
	}
	index, indexFrom, err := f.index(getenv)
	if err != nil {
		return Shard{}, err
	}
	if index < 0 || index >= count {
		return Shard{}, fmt.Errorf("shard index %d (from %s) is out of range for %d shards (from %s): want 0 to %d", index, indexFrom, count, countFrom, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}

// index returns the shard index and where it came from.
func (f ShardFlags) index(getenv func(string) string) (int, string, error) {
	if f.Index >= 0 {
		return f.Index, "--shard-index", nil
	}
	if id := getenv(EnvSlurmTaskID); id != "" {
		task, err := envInt(EnvSlurmTaskID, id)
		if err != nil {
			return 0, "", err
		}
		minStr := getenv(EnvSlurmTaskMin)
		if minStr == "" {
			return 0, "", fmt.Errorf("%s is set but %s is not: give --shard-index", EnvSlurmTaskID, EnvSlurmTaskMin)
		}
		lo, err := envInt(EnvSlurmTaskMin, minStr)
		if err != nil {
			return 0, "", err
		}
		from := fmt.Sprintf("%s=%d - %s=%d", EnvSlurmTaskID, task, EnvSlurmTaskMin, lo)
		step := 1
		if s := getenv(EnvSlurmTaskStep); s != "" {
			if step, err = envInt(EnvSlurmTaskStep, s); err != nil {
				return 0, "", err
			}
			if step < 1 {
				return 0, "", fmt.Errorf("%s=%s: want 1 or more", EnvSlurmTaskStep, s)
			}
		}
		if step > 1 {
			if (task-lo)%step != 0 {
				return 0, "", fmt.Errorf("%s: not a step of %d from the first task: give --shard-index", from, step)
			}
			from += fmt.Sprintf(", / %s=%d", EnvSlurmTaskStep, step)
		}
		return (task - lo) / step, from, nil
	}
	if v := getenv(EnvJobIndex); v != "" {
		n, err := envInt(EnvJobIndex, v)
		return n, EnvJobIndex + "=" + v, err
	}
	return 0, "", fmt.Errorf("shard index unknown: give --shard-index, or run as a Slurm array task (%s) or a Kubernetes Indexed Job (%s)", EnvSlurmTaskID, EnvJobIndex)
}

func envInt(name, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a whole number", name, v)
	}
	return n, nil
}
