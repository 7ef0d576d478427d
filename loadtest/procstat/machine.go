package procstat

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine describes the machine a report was measured on.
type Machine struct {
	CPUModel    string `json:"cpu_model"`
	CPUs        int    `json:"cpus"`   // online CPUs in /proc/stat
	Usable      int    `json:"usable"` // CPUs this process may use
	MemoryBytes uint64 `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"` // of the generator; make bench builds all with one toolchain
	OS          string `json:"os"`
	LoadBefore  string `json:"load_before"` // /proc/loadavg's 1, 5 and 15 minute averages
	LoadAfter   string `json:"load_after"`
}

// ReadMachine reads the machine's description from /proc.
func ReadMachine() Machine {
	return readMachine("/proc")
}

func readMachine(proc string) Machine {
	m := Machine{
		CPUs:       MachineCPUs(),
		Usable:     runtime.NumCPU(),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		LoadBefore: readLoadAvg(proc),
	}
	if b, err := os.ReadFile(proc + "/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile(proc + "/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb uint64
				fmt.Sscan(rest, &kb)
				m.MemoryBytes = kb * 1024
				break
			}
		}
	}
	if b, err := os.ReadFile(proc + "/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// LoadAvg returns the 1, 5 and 15 minute load averages, as in
// /proc/loadavg, or "".
func LoadAvg() string { return readLoadAvg("/proc") }

func readLoadAvg(proc string) string {
	b, err := os.ReadFile(proc + "/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
