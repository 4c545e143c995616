// Package slurm_test runs deploy/slurm/xraygpt-array.sbatch on a real
// one-node Slurm cluster that the test starts: munged, slurmctld and slurmd
// from Debian 12's packages (build/install-deps.sh installs them), with a
// configuration, key, state and ports of its own in a temporary folder.
//
//	eval "$(make -s env)" && go test ./deploy/slurm -v
//
// Under CI=true the test fails when Slurm is missing; elsewhere it skips.
// It runs as root (slurmd starts the tasks as the submitting user).
package slurm_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/batch"
)

const (
	repoRoot   = "../.."
	scriptPath = repoRoot + "/deploy/slurm/xraygpt-array.sbatch"
	demoLLM    = repoRoot + "/demo/radllama-demo-q8_0.gguf"
	demoViz    = repoRoot + "/demo/xraygpt-demo-vision.gguf"
	sharedIU   = repoRoot + "/../shared/data/iu_xray_samples/images"
	sharedEx   = repoRoot + "/../shared/data/xraygpt/example_test_images"
	demoImage  = repoRoot + "/demo/example-xray.png"
	nodeName   = "xraygpt-node"
	shards     = 4
)

// batchArgs are the generation settings of every run here: greedy, short.
const batchArgs = "--temp 0 --max-tokens 12 -t 1 --vision-threads 1 --queue 0"

func TestSlurmArray(t *testing.T) {
	requireSlurm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := buildBinary(t, ctx, dir)
	cl := startCluster(t, ctx, dir)

	// The inputs: X-rays from ../shared when present, else the demo image
	// under several ids, with their absolute paths in a manifest.
	manifest := filepath.Join(dir, "work", "manifest.jsonl")
	ids := writeManifest(t, manifest, 4)
	out := filepath.Join(dir, "work", "out.jsonl")
	script := abs(t, scriptPath)
	env := []string{
		"XRAYGPT=" + bin, "XRAYGPT_INPUT=" + manifest, "XRAYGPT_OUTPUT=" + out,
		"XRAYGPT_MODEL=" + abs(t, demoLLM), "XRAYGPT_VISION=" + abs(t, demoViz), "XRAYGPT_ARGS=" + batchArgs,
	}

	// The reference: one process over every image.
	single := filepath.Join(dir, "work", "single.jsonl")
	start := time.Now()
	run(t, ctx, cl.env(env), bin, append([]string{"batch", manifest, "-o", single}, strings.Fields(batchArgs)...)...)
	singleTime := time.Since(start)

	// The array: 4 tasks, each shard from Slurm's SLURM_ARRAY_TASK_* variables.
	start = time.Now()
	run(t, ctx, cl.env(env), "sbatch", "--wait", "--array=0-3", "--cpus-per-task=1", "--mem=1G", script)
	arrayTime := time.Since(start)
	t.Logf("%d images: one process %.1fs, array of %d tasks %.1fs (sbatch --wait, on %d CPUs: %s)",
		len(ids), singleTime.Seconds(), shards, arrayTime.Seconds(), runtime.NumCPU(), cpuName())

	shardFiles := make([]string, shards)
	perShard := map[int]int{}
	for i := range shardFiles {
		shardFiles[i] = batch.Shard{Index: i, Count: shards}.Path(out)
		rs, err := batch.ReadResults(shardFiles[i])
		if err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, cl.logs())
		}
		for _, r := range rs {
			if got := batch.ShardOf(r.ID, shards); got != i {
				t.Errorf("shard file %d holds %s, which belongs to shard %d", i, r.ID, got)
			}
		}
		perShard[i] = len(rs)
	}
	merged := filepath.Join(dir, "work", "merged.jsonl")
	run(t, ctx, cl.env(env), bin, "merge", "-o", merged, "--manifest", manifest, strings.Replace(out, ".jsonl", ".shard-*-of-00004.jsonl", 1))
	want := summaries(t, single)
	compare(t, "array", summaries(t, merged), want, ids)

	// A shard loses its last lines (and is left with a torn one), as after
	// a kill mid-write: merge reports the missing ids, a rerun of that index
	// alone (SHARDS set: the task's own id is its shard) restores them.
	victim := 0
	for i, n := range perShard {
		if n > perShard[victim] || n == perShard[victim] && i < victim {
			victim = i
		}
	}
	lost := truncate(t, shardFiles[victim], 2)
	before := map[string][]byte{}
	for i, f := range shardFiles {
		if i != victim {
			before[f] = read(t, f)
		}
	}
	stdout, code := runCode(t, ctx, cl.env(env), bin, "merge", "-o", merged, "--manifest", manifest, shardFiles[0], shardFiles[1], shardFiles[2], shardFiles[3])
	// Lines are in completion order (--parallel), missing ids in manifest order.
	missing := strings.Fields(stdout)
	slices.Sort(missing)
	slices.Sort(lost)
	if code != 1 || fmt.Sprint(missing) != fmt.Sprint(lost) {
		t.Errorf("merge with shard %d cut: exit %d, missing %q; want exit 1 and %v", victim, code, stdout, lost)
	}
	run(t, ctx, cl.env(append(env, fmt.Sprintf("SHARDS=%d", shards))), "sbatch", "--wait", fmt.Sprintf("--array=%d", victim), "--cpus-per-task=1", "--mem=1G", script)
	for f, data := range before {
		if !bytes.Equal(read(t, f), data) {
			t.Errorf("%s changed by the rerun of shard %d", f, victim)
		}
	}
	run(t, ctx, cl.env(env), bin, "merge", "-o", merged, "--manifest", manifest, strings.Replace(out, ".jsonl", ".shard-*-of-00004.jsonl", 1))
	compare(t, "after the rerun", summaries(t, merged), want, ids)

	// The script's own submission: the array again (every shard is done,
	// so each task only checks) and the dependent merge job.
	os.Remove(merged)
	subOut := run(t, ctx, cl.env(append(env, fmt.Sprintf("SHARDS=%d", shards), "MAX_RUNNING=4",
		"XRAYGPT_SBATCH_ARGS=--cpus-per-task=1 --mem=1G")), "bash", script)
	jobs := strings.Fields(subOut)
	mergeJob := jobs[len(jobs)-1]
	if _, err := strconv.Atoi(mergeJob); err != nil {
		t.Fatalf("submission printed %q", subOut)
	}
	if state := cl.waitJob(t, ctx, mergeJob); state != "COMPLETED" {
		t.Errorf("merge job %s: %s\n%s", mergeJob, state, cl.logs())
	}
	compare(t, "merge job", summaries(t, out), want, ids)
}

// requireSlurm fails under CI and skips elsewhere when the test cannot
// start a cluster.
func requireSlurm(t testing.TB) {
	if os.Getuid() != 0 {
		need(t, "root (slurmd runs the tasks of the submitting user and needs root to do so)")
	}
	for _, tool := range []string{"munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol", "squeue", "scancel"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, tool+" (Debian: apt-get install slurmctld slurmd slurm-client munge; build/install-deps.sh does)")
		}
	}
}

// need fails under CI and skips elsewhere.
func need(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test needs %s", what)
	}
	t.Skipf("needs %s", what)
}

func abs(t testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func read(t testing.TB, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func cpuName() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return runtime.GOARCH
}

// buildBinary builds cmd/xraygpt with the cgo settings of the environment
// (make test exports them).
func buildBinary(t testing.TB, ctx context.Context, dir string) string {
	bin := filepath.Join(dir, "bin", "xraygpt")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/xraygpt")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeManifest writes a manifest of up to perFolder images of each shared
// folder and returns their ids.
func writeManifest(t testing.TB, path string, perFolder int) []string {
	var images []string
	for _, d := range []string{sharedIU, sharedEx} {
		m, _ := filepath.Glob(filepath.Join(d, "*.png"))
		sort.Strings(m)
		if len(m) > perFolder {
			m = m[:perFolder]
		}
		images = append(images, m...)
	}
	if len(images) == 0 {
		for range 8 {
			images = append(images, demoImage)
		}
	}
	var b strings.Builder
	var ids []string
	for i, img := range images {
		id := fmt.Sprintf("%02d-%s", i, strings.TrimSuffix(filepath.Base(img), ".png"))
		ids = append(ids, id)
		line, _ := json.Marshal(map[string]string{"id": id, "image": abs(t, img)})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return ids
}

// summaries reads a results file, failing on a duplicate id or a failure.
func summaries(t testing.TB, path string) map[string]string {
	t.Helper()
	rs, err := batch.ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range rs {
		if _, dup := m[r.ID]; dup {
			t.Errorf("%s: id %s twice", path, r.ID)
		}
		if r.Error != "" || r.Summary == "" {
			t.Errorf("%s: %s: error %q, summary %q", path, r.ID, r.Error, r.Summary)
		}
		m[r.ID] = r.Summary
	}
	return m
}

func compare(t testing.TB, what string, got, want map[string]string, ids []string) {
	t.Helper()
	if len(got) != len(ids) || len(want) != len(ids) {
		t.Errorf("%s: %d ids, one process %d, manifest %d", what, len(got), len(want), len(ids))
	}
	for _, id := range ids {
		if got[id] != want[id] {
			t.Errorf("%s: %s: %q, one process gave %q", what, id, got[id], want[id])
		}
	}
}

// truncate cuts the last n results of path, leaves half of the last one
// as a torn line, and returns the ids lost.
func truncate(t testing.TB, path string, n int) []string {
	lines := strings.SplitAfter(strings.TrimSuffix(string(read(t, path)), "\n"), "\n")
	if len(lines) < n {
		n = len(lines)
	}
	var lost []string
	for _, l := range lines[len(lines)-n:] {
		var r batch.Result
		json.Unmarshal([]byte(l), &r)
		lost = append(lost, r.ID)
	}
	last := strings.TrimSuffix(lines[len(lines)-1], "\n")
	kept := strings.Join(lines[:len(lines)-n], "") + last[:len(last)/2]
	if err := os.WriteFile(path, []byte(kept), 0o644); err != nil {
		t.Fatal(err)
	}
	return lost
}

func run(t testing.TB, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	out, code := runCode(t, ctx, env, name, args...)
	if code != 0 {
		t.FailNow()
	}
	return out
}

func runCode(t testing.TB, ctx context.Context, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = filepath.Dir(env0(env, "XRAYGPT_INPUT", os.TempDir()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code <= 0 {
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	if code != 0 {
		t.Logf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String(), code
}

func env0(env []string, key, def string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return def
}

// cluster is a running one-node Slurm cluster.
type cluster struct {
	dir, conf string
}

// env is the environment of a client command: the test's own, the
// cluster's configuration, and extra.
func (c *cluster) env(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "SBATCH_") && !strings.HasPrefix(kv, "XRAYGPT") {
			env = append(env, kv)
		}
	}
	return append(append(env, "SLURM_CONF="+c.conf), extra...)
}

func (c *cluster) logs() string {
	var b strings.Builder
	for _, f := range []string{"log/*.out", "log/*.log", "work/xraygpt-*.log"} {
		matches, _ := filepath.Glob(filepath.Join(c.dir, f))
		for _, m := range matches {
			data, _ := os.ReadFile(m)
			if len(data) > 4000 {
				data = data[len(data)-4000:]
			}
			fmt.Fprintf(&b, "--- %s\n%s\n", m, data)
		}
	}
	return b.String()
}

// waitJob waits up to two minutes for a job to end and returns its state.
func (c *cluster) waitJob(t testing.TB, ctx context.Context, id string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		cmd := exec.CommandContext(ctx, "scontrol", "show", "job", id)
		cmd.Env = c.env(nil)
		out, _ := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("job %s did not end in time: %s\n%s", id, out, c.logs())
		}
		for _, f := range strings.Fields(string(out)) {
			if state, ok := strings.CutPrefix(f, "JobState="); ok {
				switch state {
				case "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY":
					return state
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// freePorts returns n TCP ports that nothing listens on now.
func freePorts(t testing.TB, n int) []int {
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func memoryMB(t testing.TB) int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024 * 8 / 10 // below what slurmd finds, or the node is refused
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// startCluster starts munged, slurmctld and slurmd in the foreground as
// children of the test, stopped by pid when the test ends, and waits until
// the node is idle. The node offers four "gpu" generic resources backed by
// links to /dev/null, so that the script's GPU request is scheduled for
// real; the program itself runs on the CPU.
func startCluster(t testing.TB, ctx context.Context, dir string) *cluster {
	c := &cluster{dir: dir, conf: filepath.Join(dir, "etc", "slurm.conf")}
	for _, d := range []string{"etc", "munge", "run", "log", "state", "spool", "dev", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// munged refuses a socket others cannot reach (every folder above it
	// must let them through; t.TempDir's are 0700) and a key others can
	// read.
	for _, d := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "run")} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(filepath.Join(dir, "munge"), 0o700)
	key := make([]byte, 1024)
	rand.Read(key)
	keyFile := filepath.Join(dir, "munge", "munge.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "run", "munge.socket")
	for i := range 4 {
		if err := os.Symlink("/dev/null", filepath.Join(dir, "dev", fmt.Sprintf("gpu%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	ports := freePorts(t, 2)
	conf := fmt.Sprintf(`ClusterName=xraygpttest
SlurmctldHost=%[2]s(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[1]s/run/munge.socket
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
StateSaveLocation=%[1]s/state
SlurmdSpoolDir=%[1]s/spool
SlurmctldPidFile=%[1]s/run/slurmctld.pid
SlurmdPidFile=%[1]s/run/slurmd.pid
SlurmctldLogFile=%[1]s/log/slurmctld.log
SlurmdLogFile=%[1]s/log/slurmd.log
PlugStackConfig=%[1]s/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
GresTypes=gpu
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
NodeName=%[5]s NodeHostname=%[2]s NodeAddr=127.0.0.1 CPUs=%[6]d RealMemory=%[7]d Gres=gpu:4 State=UNKNOWN
PartitionName=test Nodes=%[5]s Default=YES MaxTime=INFINITE State=UP
`, dir, host, ports[0], ports[1], nodeName, runtime.NumCPU(), memoryMB(t))
	files := map[string]string{
		"etc/slurm.conf":     conf,
		"etc/gres.conf":      fmt.Sprintf("Name=gpu File=%s/dev/gpu[0-3]\n", dir),
		"etc/plugstack.conf": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	daemon(t, dir, "munged", "munged", "--foreground", "--key-file="+keyFile, "--socket="+socket,
		"--pid-file="+filepath.Join(dir, "run", "munged.pid"), "--log-file="+filepath.Join(dir, "log", "munged.log"),
		"--seed-file="+filepath.Join(dir, "munge", "munged.seed"))
	waitFor(t, ctx, "munged's socket", func() bool { _, err := os.Stat(socket); return err == nil }, c)
	daemon(t, dir, "slurmctld", "slurmctld", "-D", "-i", "-f", c.conf)
	daemon(t, dir, "slurmd", "slurmd", "-D", "-N", nodeName, "-f", c.conf)
	// Jobs still running when the test ends (it failed) are cancelled
	// before the daemons stop, so that no task outlives the test.
	t.Cleanup(func() {
		cmd := exec.Command("scancel", "--user=root", "--full")
		cmd.Env = c.env(nil)
		cmd.Run()
		for i := 0; i < 40; i++ {
			cmd := exec.Command("squeue", "-h", "-o", "%i")
			cmd.Env = c.env(nil)
			if out, err := cmd.Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	waitFor(t, ctx, "the node to be idle", func() bool {
		cmd := exec.CommandContext(ctx, "sinfo", "-h", "-n", nodeName, "-o", "%t")
		cmd.Env = c.env(nil)
		out, _ := cmd.Output()
		return strings.TrimSpace(string(out)) == "idle"
	}, c)
	return c
}

// daemon starts a daemon in the foreground and stops it by pid (SIGTERM,
// then SIGKILL) when the test ends, pass or fail.
func daemon(t testing.TB, dir, name string, args ...string) {
	cmd := exec.Command(args[0], args[1:]...)
	logf, err := os.Create(filepath.Join(dir, "log", name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = (&cluster{conf: filepath.Join(dir, "etc", "slurm.conf")}).env(nil)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

// waitFor waits up to a minute for ok.
func waitFor(t testing.TB, ctx context.Context, what string, ok func() bool, c *cluster) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !ok() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s\n%s", what, c.logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// BenchmarkSlurmArray times the demo model over every shared X-ray (14
// images; 8 ids of the demo image without ../shared) with the default
// generation settings, greedy, one thread per process: one process, against
// the script's array of 4 one-CPU tasks on this one node (as many run at
// once as there are cores), from sbatch to the end of the last task.
// ms/image is the one process's mean time per image; array-last-write-s
// the time from sbatch to the last result written (the maximum over
// iterations), without sbatch --wait's polling. Run it once:
//
//	eval "$(make -s env)" && go test ./deploy/slurm -run - -bench SlurmArray -benchtime 1x
func BenchmarkSlurmArray(b *testing.B) {
	requireSlurm(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := b.TempDir()
	bin := buildBinary(b, ctx, dir)
	cl := startCluster(b, ctx, dir)
	manifest := filepath.Join(dir, "work", "manifest.jsonl")
	ids := writeManifest(b, manifest, 100)
	models := []string{"XRAYGPT=" + bin, "XRAYGPT_INPUT=" + manifest,
		"XRAYGPT_MODEL=" + abs(b, demoLLM), "XRAYGPT_VISION=" + abs(b, demoViz)}
	b.ResetTimer()
	var single, array, lastWrite time.Duration
	var perImage float64
	for i := range b.N {
		one := filepath.Join(dir, "work", fmt.Sprintf("single%d.jsonl", i))
		start := time.Now()
		run(b, ctx, cl.env(models), bin, "batch", manifest, "-o", one, "--temp", "0", "-t", "1", "--vision-threads", "1")
		single += time.Since(start)
		rs, _ := batch.ReadResults(one)
		for _, r := range rs {
			perImage += r.Timings.TotalMS / float64(len(rs)*b.N)
		}

		out := filepath.Join(dir, "work", fmt.Sprintf("out%d.jsonl", i))
		env := append(models, "XRAYGPT_OUTPUT="+out, "XRAYGPT_ARGS=--temp 0 -t 1 --vision-threads 1")
		start = time.Now()
		run(b, ctx, cl.env(env), "sbatch", "--wait", "--array=0-3", "--cpus-per-task=1", "--mem=1G", abs(b, scriptPath))
		array += time.Since(start)
		for s := range 4 { // the last shard file written: the tasks' end, without sbatch's polling
			if st, err := os.Stat(batch.Shard{Index: s, Count: 4}.Path(out)); err == nil && st.ModTime().Sub(start) > lastWrite {
				lastWrite = st.ModTime().Sub(start)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(len(ids)), "images")
	b.ReportMetric(single.Seconds()/n, "one-process-s")
	b.ReportMetric(array.Seconds()/n, "array-4-tasks-s")
	b.ReportMetric(array.Seconds()/single.Seconds(), "array/one")
	b.ReportMetric(lastWrite.Seconds(), "array-last-write-s")
	b.ReportMetric(perImage, "ms/image")
	b.Logf("%d images, %d CPUs (%s)", len(ids), runtime.NumCPU(), cpuName())
}
