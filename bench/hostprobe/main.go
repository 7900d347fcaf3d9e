// Command hostprobe measures how fast this machine is right now, in the
// three ways the benches depend on: a loopback TCP round trip between two
// goroutines (system calls, the loopback stack and wake-ups, most of a
// boot storm's kernel time), a random read from memory much larger than
// the caches (the heap-heavy part: maps, SQLite pages, parsers) and
// SHA-256 over a KiB (pure computation: the PIN hash).
//
// A shared virtual machine runs at different speeds from one hour to the
// next, and the same binaries then give boot storms a third apart. Run
// before and after a bench (phonesim/bench/storm.sh does), the probe says
// whether a slow figure is the machine's or the build's:
//
//	go run ./bench/hostprobe [-d 1s]
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"time"
)

func main() {
	d := flag.Duration("d", time.Second, "time given to each probe")
	// Well beyond the caches of the machines the benches run on.
	mem := flag.Int("mem", 128, "MiB of memory the random reads go through")
	flag.Parse()
	r, err := probe(*d, *mem<<20)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostprobe:", err)
		os.Exit(1)
	}
	fmt.Println(r)
}

type result struct {
	RoundTrip  time.Duration // loopback TCP, 64 bytes each way, median of rounds
	MemoryRead time.Duration // one dependent random read over -mem
	SHA256KiB  time.Duration // SHA-256 of 1 KiB
}

func (r result) String() string {
	return fmt.Sprintf("host probe: loopback TCP round trip %.1f µs, random memory read %.0f ns, SHA-256 %.2f µs a KiB",
		float64(r.RoundTrip)/1e3, float64(r.MemoryRead), float64(r.SHA256KiB)/1e3)
}

func probe(d time.Duration, memSize int) (result, error) {
	var r result
	var err error
	if r.RoundTrip, err = roundTrip(d); err != nil {
		return r, err
	}
	r.MemoryRead = memoryRead(d, memSize)
	r.SHA256KiB = sha256KiB(d)
	return r, nil
}

// rounds splits each probe's time so that a median can leave out a round
// the machine stalled in.
const rounds = 5

// roundTrip is the median over rounds of the time a 64-byte message takes
// to go to an echoing goroutine and back over loopback TCP.
func roundTrip(d time.Duration) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		echoed <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	msg, back := make([]byte, 64), make([]byte, 64)
	var per []time.Duration
	for range rounds {
		n, start := 0, time.Now()
		for time.Since(start) < d/rounds {
			for range 100 {
				if _, err := c.Write(msg); err != nil {
					c.Close()
					return 0, err
				}
				if _, err := io.ReadFull(c, back); err != nil {
					c.Close()
					return 0, err
				}
			}
			n += 100
		}
		per = append(per, time.Since(start)/time.Duration(n))
	}
	c.Close()
	if err := <-echoed; err != nil && !errors.Is(err, net.ErrClosed) {
		return 0, err
	}
	return median(per), nil
}

// memoryRead is the median over rounds of one read of a random cycle
// through memSize bytes: each read's address is the value the one
// before read, so no two overlap and the prefetcher cannot guess.
func memoryRead(d time.Duration, memSize int) time.Duration {
	next := make([]uint32, memSize/4)
	// Sattolo's shuffle: one cycle through every slot.
	for i := range next {
		next[i] = uint32(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := len(next) - 1; i > 0; i-- {
		j := rng.IntN(i)
		next[i], next[j] = next[j], next[i]
	}
	var per []time.Duration
	p := uint32(0)
	for range rounds {
		n, start := 0, time.Now()
		for time.Since(start) < d/rounds {
			for range 10000 {
				p = next[p]
			}
			n += 10000
		}
		per = append(per, time.Since(start)/time.Duration(n))
	}
	sink = p
	return median(per)
}

// sink keeps the memory walk from being optimised away.
var sink uint32

// sha256KiB is the median over rounds of the time SHA-256 takes over 1 KiB.
func sha256KiB(d time.Duration) time.Duration {
	buf := make([]byte, 1024)
	var per []time.Duration
	for range rounds {
		n, start := 0, time.Now()
		for time.Since(start) < d/rounds {
			for range 100 {
				sum := sha256.Sum256(buf)
				buf[0] = sum[0]
			}
			n += 100
		}
		per = append(per, time.Since(start)/time.Duration(n))
	}
	return median(per)
}

func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
