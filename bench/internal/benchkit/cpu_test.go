package benchkit

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestCPUTimeCountsRunningDescendants: nginx's workers are children of
// its master that run for the whole bench, so a server's CPU time must
// include them, not only what the master itself used.
func TestCPUTimeCountsRunningDescendants(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs /proc")
	}
	// The outer shell only waits; its child (the busy loop) uses the CPU.
	cmd := exec.Command("sh", "-c", `sh -c 'while :; do :; done' & wait`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range children(cmd.Process.Pid) {
			if p, err := os.FindProcess(c); err == nil {
				_ = p.Kill()
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for CPUTime(cmd.Process.Pid) < 200*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("CPUTime %v after 10 s of a busy child; own ticks %d", CPUTime(cmd.Process.Pid), statTicks(cmd.Process.Pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if own := statTicks(cmd.Process.Pid); own*int64(time.Second/clockTicks) >= int64(100*time.Millisecond) {
		t.Fatalf("the waiting shell itself used %d ticks; the test needs its child to be the busy one", own)
	}
	if CPUTime(0) != 0 {
		t.Fatal("CPUTime(0) is not 0")
	}
}
