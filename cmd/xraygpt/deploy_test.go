package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine"
)

// indexedJob is the part of a Kubernetes Job that the test reads.
type indexedJob struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		CompletionMode       string `yaml:"completionMode"`
		Completions          int    `yaml:"completions"`
		Parallelism          int    `yaml:"parallelism"`
		BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
		Template             struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Name    string   `yaml:"name"`
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
					Env     []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name string `yaml:"name"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestKubernetesIndexedJob checks deploy/kubernetes/indexed-job.yaml against
// the program: its args parse as the batch command's flags, --shard-count
// equals the completions, the pod's JOB_COMPLETION_INDEX gives the shard,
// the environment names are ones the program reads, and every path lies on
// a mounted volume (the output on a writable one). No cluster runs here.
func TestKubernetesIndexedJob(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job indexedJob
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(false)
	if err := dec.Decode(&job); err != nil {
		t.Fatalf("indexed-job.yaml: %v", err)
	}
	s := job.Spec
	if job.APIVersion != "batch/v1" || job.Kind != "Job" || s.CompletionMode != "Indexed" || s.Completions < 1 ||
		s.BackoffLimitPerIndex == nil || s.Template.Spec.RestartPolicy != "Never" || len(s.Template.Spec.Containers) != 1 {
		t.Fatalf("not an Indexed Job with backoffLimitPerIndex and restartPolicy Never: %+v", job)
	}
	ctr := s.Template.Spec.Containers[0]
	if len(ctr.Args) == 0 || ctr.Args[0] != "batch" {
		t.Fatalf("args %q do not run batch", ctr.Args)
	}

	// Every option is a batch flag with its value.
	known := map[string]bool{}
	for _, f := range batchCommand().Flags {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	for _, a := range ctr.Args[1:] {
		if name, ok := strings.CutPrefix(a, "-"); ok {
			name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
			if !known[name] {
				t.Errorf("args: %s is not a flag of xraygpt batch", a)
			}
		}
	}

	// The pod's view: parse the args with the real command line and
	// resolve the shard from the index Kubernetes sets.
	const index = 7
	t.Setenv(batch.EnvJobIndex, "7")
	for _, v := range []string{batch.EnvSlurmTaskID, batch.EnvSlurmTaskMin, batch.EnvSlurmTaskCount, batch.EnvSlurmTaskStep} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	var shard batch.Shard
	var inputs []string
	var output string
	app := newApp()
	for _, c := range app.Commands {
		if c.Name == "batch" {
			c.Action = func(c *cli.Context) error {
				inputs, output = c.Args().Slice(), c.String("output")
				shard, err = batchShard(c)
				return err
			}
		}
	}
	app.Writer, app.ErrWriter = &strings.Builder{}, &strings.Builder{}
	if err := app.RunContext(context.Background(), interspersed(app, append([]string{"xraygpt"}, ctr.Args...))); err != nil {
		t.Fatalf("xraygpt %s: %v", strings.Join(ctr.Args, " "), err)
	}
	if shard != (batch.Shard{Index: index, Count: s.Completions}) {
		t.Errorf("pod %d of %d completions runs %v", index, s.Completions, shard)
	}

	// Environment: only variables the program reads.
	reads := map[string]bool{engine.EnvModel: true, engine.EnvVision: true, engine.EnvModelDir: true, "XRAYGPT_LIB_DIR": true}
	paths := map[string]bool{} // path -> must be writable
	for _, e := range ctr.Env {
		if !reads[e.Name] {
			t.Errorf("env %s is not read by xraygpt", e.Name)
		}
		paths[e.Value] = false
	}
	for _, in := range inputs {
		paths[in] = false
	}
	paths[output] = true
	if len(inputs) == 0 || output == "" {
		t.Fatalf("no input or output in %q", ctr.Args)
	}

	volumes := map[string]bool{}
	for _, v := range s.Template.Spec.Volumes {
		volumes[v.Name] = true
	}
	for p, writable := range paths {
		found := false
		for _, m := range ctr.VolumeMounts {
			if rel, err := filepath.Rel(m.MountPath, p); err == nil && !strings.HasPrefix(rel, "..") {
				found = !writable || !m.ReadOnly
			}
		}
		if !found {
			t.Errorf("%s is on no mounted volume (writable: %v)", p, writable)
		}
	}
	for _, m := range ctr.VolumeMounts {
		if !volumes[m.Name] {
			t.Errorf("volume mount %s names no volume", m.Name)
		}
	}
}
