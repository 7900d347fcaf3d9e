package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pacedRun offers rate requests a second in all over c keep-alive
// connections, for d, each for a name drawn at random from names. wrk
// keeps every connection busy, so the faster server also makes the client
// (on the same cores) do more; here both servers get the same requests at
// the same times. As in wrk2, a request's latency counts from the time it
// was due, not from when it went out: an answer that comes late delays
// the requests behind it on its connection, and that wait is counted. The
// rate answered is over the time until the last answer, so a server that
// falls behind shows it; LagP99ms tells how much of a figure is the
// client's own.
//
// The schedule is the same for every server (a fixed seed): with poisson,
// each connection stands for an independent client, its requests a
// Poisson process (the merged stream's gaps exponential, each request on
// a connection drawn at random), so bursts and two requests due close
// together on one connection happen as they do between real phones;
// otherwise requests are due at even gaps, connection after connection.
//
// The client is one event loop on a thread of its own, as wrk's threads
// are, so that it costs about what wrk does a request: it sends what is
// due, then waits in epoll_pwait2 for answers or the next due time, to
// the microsecond. Go's timers, and wrk2's, wake up to a millisecond
// late, as much as the tails compared here.
func pacedRun(url string, names []string, c int, rate float64, d time.Duration, poisson bool) result {
	res := make(chan result, 1)
	go func() {
		// Never unlocked: the thread's timer slack is changed, and the
		// thread ends with the goroutine instead of going back to the
		// runtime.
		runtime.LockOSThread()
		res <- pacedLoop(strings.TrimPrefix(url, "http://"), names, c, rate, d, poisson)
	}()
	return <-res
}

// pacedConn is one connection of a paced run: at most one request in
// flight, the due times of those waiting behind it queued.
type pacedConn struct {
	fd       int
	rng      *rand.Rand
	inFlight bool
	due      time.Time   // of the request in flight
	queued   []time.Time // due, waiting for the answer in flight
	partial  []byte      // the start of an answer not read whole yet
	err      error
}

func pacedLoop(addr string, names []string, c int, rate float64, d time.Duration, poisson bool) (r result) {
	r.C, r.Paced = c, true
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // the kernel's 50 µs default is a gap between requests
	sa, err := sockaddr(addr)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		r.Err = fmt.Sprintf("epoll: %v", err)
		return r
	}
	defer unix.Close(ep)
	conns := make([]*pacedConn, c)
	var errs []error
	for i := range conns {
		fd, err := dialFd(sa)
		if err == nil {
			err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)})
			defer unix.Close(fd)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// A seed a connection: every server is asked the same names.
		conns[i] = &pacedConn{fd: fd, rng: rand.New(rand.NewPCG(uint64(i), 1))}
	}

	// A failed connection leaves the poll set: a closed socket would be
	// readable at every wait.
	fail := func(pc *pacedConn, err error) {
		pc.err = err
		_ = unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, pc.fd, nil)
	}
	var req []byte
	send := func(pc *pacedConn, due time.Time) {
		req = fmt.Appendf(req[:0], "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", names[pc.rng.IntN(len(names))])
		// One request in flight a connection: it always fits the socket's
		// buffer, so a short write is a failure.
		if n, err := unix.Write(pc.fd, req); err != nil || n != len(req) {
			fail(pc, fmt.Errorf("write: %d of %d bytes: %v", n, len(req), err))
			return
		}
		pc.inFlight, pc.due = true, due
	}
	var lat, lag []time.Duration
	answered := func(pc *pacedConn, status int, now time.Time) {
		lat = append(lat, now.Sub(pc.due))
		if status/100 != 2 && status/100 != 3 {
			r.Non2xx++
		}
		pc.inFlight = false
		if len(pc.queued) > 0 {
			due := pc.queued[0]
			pc.queued = pc.queued[1:]
			send(pc, due)
		}
	}

	s := newSchedule(rate, c, poisson)
	start := time.Now().Add(20 * time.Millisecond)
	end := start.Add(d)
	deadline := end.Add(5 * time.Second) // for the last answers
	at, next := s.next()
	due := start.Add(at)
	last := start
	events := make([]unix.EpollEvent, 128)
	buf := make([]byte, 64<<10)
	for {
		now := time.Now()
		for due.Before(end) && !due.After(now) {
			lag = append(lag, now.Sub(due))
			if pc := conns[next]; pc != nil && pc.err == nil {
				if pc.inFlight {
					pc.queued = append(pc.queued, due)
				} else {
					send(pc, due)
				}
			}
			at, next = s.next()
			due = start.Add(at)
		}
		over := !due.Before(end)
		if over && !pending(conns) || now.After(deadline) {
			break
		}
		wait := deadline.Sub(now)
		if !over {
			wait = due.Sub(now)
		}
		n, err := epollWait(ep, events, wait)
		if err != nil && !errors.Is(err, unix.EINTR) {
			r.Err = fmt.Sprintf("epoll_pwait2: %v", err)
			return r
		}
		for _, ev := range events[:n] {
			pc := conns[ev.Fd]
			if pc.err != nil {
				continue
			}
			k, err := unix.Read(pc.fd, buf)
			if errors.Is(err, unix.EAGAIN) {
				continue
			}
			if k <= 0 {
				if err == nil {
					err = io.EOF
				}
				fail(pc, fmt.Errorf("read: %w", err))
				continue
			}
			now := time.Now()
			data := buf[:k]
			if len(pc.partial) > 0 {
				pc.partial = append(pc.partial, data...)
				data = pc.partial
			}
			for len(data) > 0 && pc.err == nil {
				status, used, err := parseAnswer(data)
				if err != nil {
					fail(pc, err)
				} else if used == 0 {
					break
				} else if !pc.inFlight {
					fail(pc, errors.New("an answer to no request"))
				} else {
					data = data[used:]
					answered(pc, status, now)
					last = now
				}
			}
			pc.partial = append(pc.partial[:0], data...)
		}
	}
	for _, pc := range conns {
		if pc == nil {
			continue
		}
		if pc.err == nil && pc.inFlight {
			pc.err = fmt.Errorf("%d requests not answered within 5 s of the end", 1+len(pc.queued))
		}
		if pc.err != nil {
			errs = append(errs, pc.err)
		}
	}
	r.Errors = int64(len(errs))
	r.Requests = int64(len(lat))
	r.ReqPerS = float64(len(lat)) / max(d, last.Sub(start)).Seconds()
	r.P50ms, r.P99ms, r.LagP99ms = pctMs(lat, 50), pctMs(lat, 99), pctMs(lag, 99)
	if len(errs) > 0 {
		r.Err = fmt.Sprintf("%d of %d connections failed: %v", len(errs), c, errors.Join(errs...))
	}
	return r
}

// pending tells whether a connection that has not failed still waits for
// an answer.
func pending(conns []*pacedConn) bool {
	for _, pc := range conns {
		if pc != nil && pc.err == nil && pc.inFlight {
			return true
		}
	}
	return false
}

func sockaddr(addr string) (unix.Sockaddr, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		return &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte(ip4)}, nil
	}
	return &unix.SockaddrInet6{Port: a.Port, Addr: [16]byte(a.IP.To16())}, nil
}

// dialFd connects a TCP socket to sa (on loopback at once), then makes
// it non-blocking for the loop.
func dialFd(sa unix.Sockaddr) (int, error) {
	domain := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as Go's own connections
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// epollWait is epoll_pwait2 (Linux 5.11): its timeout is a timespec, where
// epoll_wait's is in milliseconds.
func epollWait(ep int, events []unix.EpollEvent, wait time.Duration) (int, error) {
	ts := unix.NsecToTimespec(int64(max(wait, 0)))
	n, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(ep), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
