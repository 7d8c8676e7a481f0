package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is what a run cost in processor time. It answers what a records/s
// figure alone cannot: whether the run was bound by the processors (the
// machine busy near 100%) and which part spent them. On a small machine
// where the database shares its cores with NATS, the connector and the
// function, the end-to-end rate is bounded by
// cores / (CPU per record of every part), however little waiting there is.
type CPU struct {
	// Platform is this process: embedded NATS and FerretDB, the provider,
	// the connector, and the benchmark's own publisher or client.
	Platform time.Duration
	// Functions is the function replicas, which the provider runs as
	// child processes of this one.
	Functions time.Duration
	// Busy is the share of the machine's processor time that was not idle
	// during the run, 0..1; Cores is how many processors it has.
	Busy  float64
	Cores int
}

// PerRecord is microseconds of processor time per record: platform,
// function replicas and their sum.
func (c CPU) PerRecord(n int) (platform, functions, total float64) {
	if n <= 0 {
		return 0, 0, 0
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return us(c.Platform), us(c.Functions), us(c.Platform + c.Functions)
}

// cpuMark is a reading of the counters a CPU is the difference of.
type cpuMark struct {
	self, children time.Duration
	busy, all      uint64
	cores          int
}

// markCPU reads this process's CPU time, its child processes' (running
// ones, from /proc: a replica that exits during the run is missed, so runs
// measure after the deploy) and the machine's counters.
func markCPU() cpuMark {
	var m cpuMark
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		m.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	m.children = childrenCPU(os.Getpid())
	m.busy, m.all, m.cores = machineTicks()
	return m
}

// since is the CPU spent from m to now.
func (m cpuMark) since() CPU {
	now := markCPU()
	c := CPU{Platform: now.self - m.self, Functions: max(0, now.children-m.children), Cores: now.cores}
	if all := now.all - m.all; all > 0 {
		c.Busy = float64(now.busy-m.busy) / float64(all)
	}
	return c
}

// clockTick is the unit of /proc's CPU counters (USER_HZ), 100 on every
// Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// childrenCPU sums user and system time of the live processes whose
// parent is pid, and of their children.
func childrenCPU(pid int) time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	parent := map[int]int{}
	ticks := map[int]uint64{}
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// The command name is in parentheses and may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		parent[p], _ = strconv.Atoi(f[1]) // field 4, ppid
		utime, _ := strconv.ParseUint(f[11], 10, 64)
		stime, _ := strconv.ParseUint(f[12], 10, 64)
		ticks[p] = utime + stime
	}
	var sum uint64
	for p, t := range ticks {
		for a, hops := parent[p], 0; a > 1 && hops < 8; a, hops = parent[a], hops+1 {
			if a == pid {
				sum += t
				break
			}
		}
	}
	return time.Duration(sum) * clockTick
}

// machineTicks reads /proc/stat's first line: ticks not idle, all ticks,
// and the number of processors.
func machineTicks() (busy, all uint64, cores int) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "cpu") {
			cores++
		}
	}
	f := strings.Fields(lines[0])
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, cores
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 7 { // guest time is already counted in user time
			break
		}
		all += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, all, cores
}

// String is "platform P + functions F = T µs/record, machine B% busy".
func (c CPU) String(n int) string {
	p, f, t := c.PerRecord(n)
	return fmt.Sprintf("%4.0f + %4.0f = %4.0f us/rec, %3.0f%% of %d cores busy", p, f, t, c.Busy*100, c.Cores)
}
