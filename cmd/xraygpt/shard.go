package main

import (
	"hash/fnv"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/batch"
)

// shardCountFlag and shardIndexFlag are batch's --shard-count and
// --shard-index.
func shardCountFlag() cli.Flag {
	return &cli.IntFlag{Name: "shard-count", DefaultText: "env " + batch.EnvSlurmTaskCount, Usage: "split the items into this many shards by a hash of their id and run one of them, writing OUT.shard-IIIII-of-NNNNN.jsonl next to --output"}
}

func shardIndexFlag() cli.Flag {
	return &cli.IntFlag{Name: "shard-index", DefaultText: "env " + batch.EnvSlurmTaskID + " - " + batch.EnvSlurmTaskMin + ", else " + batch.EnvJobIndex, Usage: "the shard to run, from 0"}
}

// batchShard works out the shard a batch runs from the flags and the Slurm
// or Kubernetes environment: the whole run when neither flag is given
// outside a Slurm array task.
func batchShard(c *cli.Context) (batch.Shard, error) {
	f := batch.ShardFlags{Index: -1, Count: -1}
	// Their ranges are checked with every numeric flag's (flagRanges).
	if c.IsSet("shard-count") {
		f.Count = c.Int("shard-count")
	}
	if c.IsSet("shard-index") {
		f.Index = c.Int("shard-index")
	}
	if !f.Sharded(os.Getenv) {
		return batch.Shard{}, nil
	}
	s, err := f.Resolve(os.Getenv)
	if err != nil {
		return batch.Shard{}, cli.Exit("batch: "+err.Error(), 2)
	}
	return s, nil
}

// idSeed mixes an item id into the prompt seed, so that a "random" prompt
// depends on the seed and the id only: a shard asks what the whole run would.
func idSeed(seed uint64, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return seed ^ h.Sum64()
}
