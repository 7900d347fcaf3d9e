//go:build unix

package xmlsvc

import (
	"syscall"
	"time"
)

// processCPU is the user and system CPU time of this process so far; on a
// shared machine it measures cost where wall-clock rates measure the load
// of the neighbours.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
