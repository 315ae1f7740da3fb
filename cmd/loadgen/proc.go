package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc (proc(5)): 100
// on every Linux architecture Go supports.
const clockTicks = 100

// Errors of reading /proc.
var (
	errProcFormat = errors.New("loadgen: unexpected /proc format")
	errNoProcess  = errors.New("loadgen: no process found")
	errManyProcs  = errors.New("loadgen: several processes match")
)

// parseStatCPU returns utime + stime of a /proc/PID/stat line (proc(5)
// fields 14 and 15), in clock ticks. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(data []byte) (uint64, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("%w: stat has no command name", errProcFormat)
	}
	// After ") " come field 3 (state), 4, ...: utime is field 14.
	fields := strings.Fields(string(data[end+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("%w: stat has %d fields", errProcFormat, len(fields)+2)
	}
	u, err1 := strconv.ParseUint(fields[utime], 10, 64)
	s, err2 := strconv.ParseUint(fields[stime], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: stat times: %w", errProcFormat, err)
	}

	return u + s, nil
}

// parseVmRSS returns the VmRSS line of a /proc/PID/status file in KiB.
func parseVmRSS(data []byte) (uint64, error) {
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: VmRSS %q", errProcFormat, strings.TrimSpace(rest))
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmRSS: %w", errProcFormat, err)
		}

		return v, nil
	}

	return 0, fmt.Errorf("%w: no VmRSS line", errProcFormat)
}

// cpuTimes are the busy and total clock ticks of one CPU from /proc/stat.
type cpuTimes struct {
	Busy, Total uint64
}

// parseProcStat returns the times of each cpuN line of /proc/stat, indexed
// by N. Busy is everything but idle and iowait; guest times are already
// part of user and nice and are not added again.
func parseProcStat(data []byte) (map[int]cpuTimes, error) {
	cpus := make(map[int]cpuTimes)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var t cpuTimes
		// user nice system idle iowait irq softirq steal [guest guest_nice]
		for i, s := range f[1:min(len(f), 9)] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: /proc/stat %s: %w", errProcFormat, f[0], err)
			}
			t.Total += v
			if i != 3 && i != 4 {
				t.Busy += v
			}
		}
		cpus[n] = t
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("%w: /proc/stat has no cpu lines", errProcFormat)
	}

	return cpus, nil
}

// proc reads the figures of one process (or of the machine) under a /proc
// root; root is "/proc" except in tests.
type proc struct {
	root string
	pid  int
}

// cpu returns the process's user+system CPU time.
func (p proc) cpu() (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(p.pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("loadgen: %w", err)
	}
	ticks, err := parseStatCPU(data)
	if err != nil {
		return 0, err
	}

	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// rss returns the process's resident set size in KiB.
func (p proc) rss() (uint64, error) {
	data, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(p.pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("loadgen: %w", err)
	}

	return parseVmRSS(data)
}

// cpus returns the per-CPU times of the machine.
func (p proc) cpus() (map[int]cpuTimes, error) {
	data, err := os.ReadFile(filepath.Join(p.root, "stat"))
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}

	return parseProcStat(data)
}

// findPID returns the one process under root whose command name
// (/proc/PID/comm, at most 15 bytes) is name, skipping self.
func findPID(root, name string, self int) (int, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0, fmt.Errorf("loadgen: %w", err)
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(root, e.Name(), "comm"))
		if err != nil {
			continue // gone meanwhile
		}
		if strings.TrimSuffix(string(comm), "\n") == name {
			found = append(found, pid)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w named %q: pass -gateway-pid", errNoProcess, name)
	case 1:
		return found[0], nil
	default:
		return 0, fmt.Errorf("%w name %q (%v): pass -gateway-pid", errManyProcs, name, found)
	}
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage(root string) ([3]float64, error) {
	var la [3]float64
	data, err := os.ReadFile(filepath.Join(root, "loadavg"))
	if err != nil {
		return la, fmt.Errorf("loadgen: %w", err)
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return la, fmt.Errorf("%w: loadavg %q", errProcFormat, data)
	}
	for i := range la {
		if la[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return la, fmt.Errorf("%w: loadavg: %w", errProcFormat, err)
		}
	}

	return la, nil
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel(root string) string {
	data, err := os.ReadFile(filepath.Join(root, "cpuinfo"))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}

	return ""
}
