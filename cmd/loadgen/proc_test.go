package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestParseProcFields: the CPU time of /proc/PID/stat (utime+stime, in
// clock ticks) and the resident memory of /proc/PID/status (kB), and
// errProcFormat for what they cannot read.
func TestParseProcFields(t *testing.T) {
	stat, rss := parseStatCPU, parseVmRSS
	tests := []struct {
		name  string
		parse func([]byte) (uint64, error)
		in    string
		want  uint64
		err   bool
	}{
		{"stat plain", stat, "1234 (gateway) S 1 1234 1234 0 -1 4194560 2000 0 0 0 150 25 0 0 20 0 8 0 100 1000000 500 18446744073709551615", 175, false},
		{"stat name with spaces and parens", stat, "77 (my (odd) name) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0", 10, false},
		{"stat truncated", stat, "77 (x) R 1 2 3", 0, true},
		{"stat no name", stat, "garbage", 0, true},
		{"stat not a number", stat, "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 3 0 0", 0, true},
		{"VmRSS present", rss, "Name:\tgateway\nVmPeak:\t  99999 kB\nVmRSS:\t   20608 kB\nRssAnon:\t 1 kB\n", 20608, false},
		{"VmRSS missing (kernel thread)", rss, "Name:\tkthreadd\nState:\tS\n", 0, true},
		{"VmRSS in another unit", rss, "VmRSS:\t 20 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.in))
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, errProcFormat) {
				t.Errorf("error %v is not errProcFormat", err)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	stat := "cpu  300 0 100 1000 50 0 0 0 0 0\n" +
		"cpu0 100 0 50 600 20 0 0 0 0 0\n" +
		"cpu1 200 0 50 400 30 5 5 10 7 0\n" +
		"intr 1 2 3\nctxt 99\n"
	got, err := parseProcStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]cpuTimes{0: {Busy: 150, Total: 770}, 1: {Busy: 270, Total: 700}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parseProcStat = %v, want %v (guest time not counted twice)", got, want)
	}
	if _, err := parseProcStat([]byte("intr 1\n")); !errors.Is(err, errProcFormat) {
		t.Errorf("no cpu lines: %v", err)
	}
}

// fakeProc builds a /proc-like tree: pid -> comm.
func fakeProc(t *testing.T, procs map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, comm := range procs {
		if err := os.MkdirAll(filepath.Join(root, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "comm"), []byte(comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "loadavg"), []byte("0.52 1.25 2.00 1/234 5678\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	return root
}

func TestFindPID(t *testing.T) {
	tests := []struct {
		name  string
		procs map[string]string
		self  int
		want  int
		err   error
	}{
		{"one", map[string]string{"10": "echo", "11": "gateway", "12": "bash"}, 1, 11, nil},
		{"self skipped", map[string]string{"11": "gateway", "12": "gateway"}, 12, 11, nil},
		{"none", map[string]string{"10": "echo"}, 1, 0, errNoProcess},
		{"several", map[string]string{"11": "gateway", "12": "gateway"}, 1, 0, errManyProcs},
		{"prefix is not a match", map[string]string{"11": "gateway-old"}, 1, 0, errNoProcess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeProc(t, tt.procs)
			got, err := findPID(root, "gateway", tt.self)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("findPID = %d, %v; want %d, %v", got, err, tt.want, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), "-gateway-pid") {
				t.Errorf("error %q does not say what to do", err)
			}
		})
	}
	la, err := loadAverage(fakeProc(t, nil))
	if err != nil || la != [3]float64{0.52, 1.25, 2} {
		t.Errorf("loadAverage = %v, %v", la, err)
	}
}

// TestProcSelf reads this test process's real figures: it has resident
// memory, and its CPU time grows while it spins.
func TestProcSelf(t *testing.T) {
	p := proc{root: "/proc", pid: os.Getpid()}
	rss, err := p.rss()
	if err != nil || rss == 0 {
		t.Fatalf("rss = %d, %v", rss, err)
	}
	before, err := p.cpu()
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has counted 30 ms of CPU for the process (three
	// clock ticks), however long that takes on a busy machine; the wall
	// clock only bounds a process whose CPU time never grows.
	x := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		for range 1 << 16 {
			x++
		}
		after, err := p.cpu()
		if err != nil {
			t.Fatal(err)
		}
		if after-before >= 30*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s of spinning took %v of CPU (x=%d)", after-before, x)
		}
	}
	cpus, err := p.cpus()
	if err != nil || len(cpus) == 0 {
		t.Errorf("cpus = %v, %v", cpus, err)
	}
	if _, err := (proc{root: "/proc", pid: 1 << 30}).cpu(); err == nil {
		t.Error("a process that does not exist has a CPU time")
	}
}
