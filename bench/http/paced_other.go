//go:build !linux

package main

import "time"

// pacedRun needs Linux's epoll_pwait2 for a schedule kept to the
// microsecond; elsewhere the paced phase reports that and goes on.
func pacedRun(url string, names []string, c int, rate float64, d time.Duration, poisson bool) result {
	return result{C: c, Paced: true, Err: "the paced client runs on Linux only"}
}
