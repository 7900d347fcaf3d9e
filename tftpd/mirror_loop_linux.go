package tftpd

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The mirror's event loops: nginx's shape, for connections that keep
// asking for configs already rendered (a load test, a proxy in front). A
// goroutine per connection answered as many requests a second, but with a
// wider spread: under 64 busy connections on two cores, every answer woke
// a goroutine, which the runtime handed between threads, and one request
// in ten waited for a thread to get a CPU back (p90 1.8 ms against 1.2 ms
// for a loop; see bench/http). A loop owns its connections: one epoll
// wait returns every ready one, each is read, answered and written in
// turn, and nothing is handed between threads.
//
// A connection starts on a goroutine of its own, and moves onto a loop
// once its last loopAfter answers came from memory: a booting phone asks
// for a few files and goes, a load client keeps asking for configs
// already rendered, and a pool of connections shared by many booting
// phones (phonesim) asks for configs never rendered yet, each needing the
// store. A loop answers only from memory. A request that needs the store
// or net/http (a file on disk, a range, HTTP/1.0) takes its connection
// back onto a goroutine, with what was read and the answers not yet
// written. Moving a connection costs a few system calls (a descriptor
// duplicated, epoll and Go's poller told), which a phone that asks for
// three files would pay for nothing.
//
// There is a loop for every CPU, and a connection goes to the loop of the
// CPU its packets arrive on (SO_INCOMING_CPU: on loopback, the client
// thread's; from a network card, its receive queue's). Each loop's
// thread then serves the clients on one CPU, and the kernel keeps the
// two together, one running while the other waits. One loop for all
// connections on two cores shared with wrk's two threads ran without a
// break while a client it had woken waited behind it for the scheduler's
// tick (4 ms): p99 3.5 to 4 ms in every round, where nginx's two workers,
// when they happened to pair off with wrk's threads, had 1.2 to 1.5 ms.
// Two loops taking connections in turn fought the clients for both CPUs
// (p99 6 to 8 ms). A client's thread moves between CPUs, so a loop looks
// again now and then and hands the connection over (steer).

const eventLoopsSupported = true

type eventLoops struct {
	m     *HTTPMirror
	loops []*eventLoop
	// byCPU: the kernel says on which CPU each connection's packets
	// arrive (SO_INCOMING_CPU), and a connection goes to that CPU's loop.
	byCPU bool
	// loopOfCPU is the loop of each CPU the daemon may run on, in
	// turn by the CPU's rank: a container's CPUs 2, 3, 6 and 7 go to loops
	// 0, 1, 2 and 3, where the CPU's number modulo four would leave two
	// loops without connections. Other CPUs go by number.
	loopOfCPU []int
	mu        sync.Mutex
	next      int // without byCPU, loops are taken in turn
}

// eventLoop is one loop's state; only its goroutine touches conns.
type eventLoop struct {
	m     *HTTPMirror
	set   *eventLoops
	ep    int // epoll
	wake  int // eventfd: adopted connections waiting, or closing
	conns map[int32]*loopConn
	// tick is how often timeouts are looked at: a quarter of the
	// shortest one, so each fires within a quarter of its length.
	tick time.Duration

	mu      sync.Mutex
	adopted []*loopConn // accepted, not yet in conns
	stopped bool

	held atomic.Int32 // len(conns), for tests
}

// loopConn is a connection a loop serves.
type loopConn struct {
	mirrorConn
	fd       int
	deadline time.Time // idle, the rest of a header, or a write, as its state says
	writing  bool      // waiting for room to write mc.out, not reading
	last     bool      // close once mc.out is written
	// answers since its loop last asked where its packets arrive.
	answers int
}

// startLoops starts the loops: m.loopCount where the kernel says on
// which CPU a connection's packets arrive, else m.loopCountInTurn. Nil if
// the kernel refused one (the mirror then serves every connection on a
// goroutine).
func (m *HTTPMirror) startLoops() *eventLoops {
	ls := &eventLoops{m: m, byCPU: incomingCPUKnown()}
	count := m.loopCount
	if !ls.byCPU {
		count = m.loopCountInTurn
	}
	tick := min(m.idleTimeout, m.headerTimeout, m.writeTimeout) / 4
	tick = min(max(tick, 10*time.Millisecond), time.Second)
	count = max(count, 1)
	var set unix.CPUSet
	if ls.byCPU && unix.SchedGetaffinity(0, &set) == nil {
		ls.loopOfCPU = loopsOfCPUs(&set, count)
	}
	for range count {
		l, err := newEventLoop(m, ls, tick)
		if err != nil {
			m.s.log.Warn("http event loop not started; every connection gets a goroutine", "err", err)
			for _, l := range ls.loops {
				l.closeFDs()
			}
			return nil
		}
		ls.loops = append(ls.loops, l)
	}
	for _, l := range ls.loops {
		m.wg.Add(1)
		go l.run()
	}
	return ls
}

// incomingCPUKnown: the kernel has SO_INCOMING_CPU (Linux 3.19).
func incomingCPUKnown() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	_, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_INCOMING_CPU)
	return err == nil
}

// loopsOfCPUs spreads the CPUs in set over n loops by rank; -1 for a CPU
// not in the set.
func loopsOfCPUs(set *unix.CPUSet, n int) []int {
	const maxCPU = len(unix.CPUSet{}) * 64
	last := -1
	for cpu := range maxCPU {
		if set.IsSet(cpu) {
			last = cpu
		}
	}
	out := make([]int, last+1)
	rank := 0
	for cpu := range out {
		out[cpu] = -1
		if set.IsSet(cpu) {
			out[cpu] = rank % n
			rank++
		}
	}
	return out
}

// loopFor is the loop for the connection fd: its CPU's, or the next in
// turn when that is not known.
func (ls *eventLoops) loopFor(fd int) *eventLoop {
	if len(ls.loops) == 1 {
		return ls.loops[0]
	}
	if ls.byCPU {
		if cpu, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_INCOMING_CPU); err == nil && cpu >= 0 {
			if cpu < len(ls.loopOfCPU) && ls.loopOfCPU[cpu] >= 0 {
				return ls.loops[ls.loopOfCPU[cpu]]
			}
			return ls.loops[cpu%len(ls.loops)]
		}
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.loops[ls.next%len(ls.loops)]
	ls.next++
	return l
}

func newEventLoop(m *HTTPMirror, ls *eventLoops, tick time.Duration) (*eventLoop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &eventLoop{m: m, set: ls, ep: ep, wake: wake, conns: map[int32]*loopConn{}, tick: tick}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		l.closeFDs()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return l, nil
}

func (l *eventLoop) closeFDs() {
	unix.Close(l.ep)
	unix.Close(l.wake)
}

// adopt moves mc's connection, with nothing read and nothing to write,
// onto a loop; false when it cannot (not a socket), and the caller goes
// on serving it.
func (ls *eventLoops) adopt(mc *mirrorConn) bool {
	c := mc.c
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	// A duplicate, so that closing c takes it out of Go's poller and
	// leaves the socket open.
	if cerr := raw.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil || err != nil {
		return false
	}
	l := ls.loopFor(fd)
	if l.isStopped() {
		unix.Close(fd)
		return false // a loop that failed: the goroutine keeps it
	}
	c.Close()
	lc := &loopConn{mirrorConn: *mc, fd: fd}
	lc.c = nil
	ls.m.adopted.Add(1)
	l.take(lc)
	return true
}

// take gives c to l, which adds it to its epoll set once it wakes up;
// closed if l has stopped (the mirror is shutting down).
func (l *eventLoop) take(c *loopConn) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		unix.Close(c.fd)
		return
	}
	l.adopted = append(l.adopted, c)
	l.mu.Unlock()
	l.wakeUp()
}

func (l *eventLoop) isStopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

// wakeUp makes the loop look at adopted connections and at closing.
func (ls *eventLoops) wakeUp() {
	for _, l := range ls.loops {
		l.wakeUp()
	}
}

func (l *eventLoop) wakeUp() {
	one := [8]byte{1}
	_, _ = unix.Write(l.wake, one[:])
}

func (l *eventLoop) run() {
	defer l.m.wg.Done()
	// The loop keeps its thread: the kernel pairs a thread with the
	// clients that wake it (below), and a goroutine that moved to another
	// thread after each blocking epoll_wait broke the pairs (p99 4.2 to
	// 5.2 ms unlocked, 1.0 to 4.6 locked, in the same set).
	runtime.LockOSThread()
	defer l.closeFDs()
	events := make([]unix.EpollEvent, 256)
	lastTick := time.Now()
	for {
		n, err := unix.EpollWait(l.ep, events, int(l.tick/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.m.s.log.Error("http event loop failed; its connections are closed", "err", os.NewSyscallError("epoll_wait", err))
			l.stop()
			return
		}
		now := time.Now()
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == int32(l.wake) {
				var b [8]byte
				_, _ = unix.Read(l.wake, b[:])
				l.takeAdopted(now)
				continue
			}
			if c := l.conns[ev.Fd]; c != nil {
				l.ready(c, now)
			}
		}
		if l.m.closing.Load() && l.closeIdle() {
			l.stop()
			return
		}
		if now.Sub(lastTick) >= l.tick {
			lastTick = now
			l.expire(now)
		}
	}
}

func (l *eventLoop) takeAdopted(now time.Time) {
	l.mu.Lock()
	adopted := l.adopted
	l.adopted = nil
	l.mu.Unlock()
	for _, c := range adopted {
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}); err != nil {
			unix.Close(c.fd)
			continue
		}
		l.conns[int32(c.fd)] = c
		l.held.Add(1)
		c.setClock(now)
		c.deadline = now.Add(l.m.idleTimeout)
	}
}

// ready serves a connection epoll reported: its writing goes on, or it
// is read and what it asked is answered.
func (l *eventLoop) ready(c *loopConn, now time.Time) {
	c.setClock(now)
	if c.writing {
		if !l.write(c) {
			l.close(c)
			return
		}
		if c.writing {
			return
		}
		if c.last {
			l.close(c)
			return
		}
		l.serve(c) // requests read before the write blocked
		return
	}
	if !c.roomToRead() {
		c.last = true
		l.finish(c)
		return
	}
	n, err := unix.Read(c.fd, c.in[len(c.in):cap(c.in)])
	if n > 0 {
		c.in = c.in[:len(c.in)+n]
		l.serve(c)
		return
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	l.close(c) // end of stream or an error
}

// serve answers what c has read, writes the answers and chooses what
// the connection waits for next.
func (l *eventLoop) serve(c *loopConn) {
	for {
		switch c.process(false) {
		case stepFlush:
			if !l.write(c) {
				l.close(c)
				return
			}
			if c.writing {
				return // serve again once it is written
			}
			continue
		case stepClose:
			c.last = true
			l.finish(c)
			return
		case stepNetHTTP, stepGoroutine:
			l.detach(c)
			return
		}
		if !l.write(c) {
			l.close(c)
			return
		}
		if !c.writing {
			if len(c.in) > 0 {
				c.deadline = c.now.Add(l.m.headerTimeout) // a request has begun
			} else {
				c.deadline = c.now.Add(l.m.idleTimeout)
				l.steer(c)
			}
		}
		return
	}
}

// steerEvery is how many answers a connection gets between two looks at
// where its packets arrive: a getsockopt, a few percent of one answer's
// cost. Looking every 64 answers left connections on the wrong loop for
// tens of milliseconds after the client's thread moved (p99 2.9 ms
// against 1.45 in the same set); every 4 was no better than 16.
const steerEvery = 16

// steer moves c, idle, to the loop of the CPU its packets now arrive on.
// A client thread that the scheduler moved to another CPU is then
// answered by the loop there: each loop's thread and its clients' take
// turns on one CPU instead of waking each other across two.
func (l *eventLoop) steer(c *loopConn) {
	if !l.set.byCPU || len(l.set.loops) == 1 {
		return
	}
	if c.answers++; c.answers < steerEvery {
		return
	}
	c.answers = 0
	to := l.set.loopFor(c.fd)
	if to == l || to.isStopped() {
		return
	}
	l.forget(c)
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, c.fd, nil); err != nil {
		unix.Close(c.fd)
		return
	}
	l.m.steered.Add(1)
	to.take(c)
}

// finish writes c's last answers and closes it, now or once written.
func (l *eventLoop) finish(c *loopConn) {
	if !l.write(c) || !c.writing {
		l.close(c)
	}
}

// write writes c.out without waiting: what the socket cannot take yet
// waits for epoll to say it can (and c is not read meanwhile, so a client
// that does not read its answers stops being read). False when the
// connection failed.
func (l *eventLoop) write(c *loopConn) bool {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if n > 0 {
			c.out = c.out[:copy(c.out, c.out[n:])]
			continue
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if !errors.Is(err, unix.EAGAIN) {
			return false
		}
		if !c.writing {
			c.writing = true
			c.deadline = c.now.Add(l.m.writeTimeout)
			return l.interest(c, unix.EPOLLOUT)
		}
		return true
	}
	if c.writing {
		c.writing = false
		return l.interest(c, unix.EPOLLIN)
	}
	return true
}

func (l *eventLoop) interest(c *loopConn, events uint32) bool {
	return unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)}) == nil
}

func (l *eventLoop) close(c *loopConn) {
	l.forget(c)
	unix.Close(c.fd) // also takes it out of the epoll set
}

// forget takes c out of the loop's connections.
func (l *eventLoop) forget(c *loopConn) {
	delete(l.conns, int32(c.fd))
	l.held.Add(-1)
}

// detach takes c out of the loop and serves it on a goroutine, from what
// it has read and with the answers it has not written yet.
func (l *eventLoop) detach(c *loopConn) {
	l.forget(c)
	_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
	f := os.NewFile(uintptr(c.fd), "http")
	nc, err := net.FileConn(f) // a duplicate in Go's poller
	f.Close()
	if err != nil {
		l.m.s.log.Warn("http connection lost moving it off an event loop", "err", err)
		return
	}
	if !l.m.track(nc) {
		nc.Close()
		return
	}
	c.mirrorConn.c = nc
	c.inMemory = 0 // back to a loop only after as many answers from memory again
	l.m.detached.Add(1)
	go l.m.serveConn(&c.mirrorConn)
}

// expire closes connections past their deadline: idle, silent in the
// middle of a header, or not reading their answers.
func (l *eventLoop) expire(now time.Time) {
	for _, c := range l.conns {
		if now.After(c.deadline) {
			l.close(c)
		}
	}
}

// closeIdle, once the mirror is closing, closes every connection that is
// not writing an answer; true when none is left.
func (l *eventLoop) closeIdle() bool {
	force := l.m.forced.Load()
	for _, c := range l.conns {
		if !c.writing || force {
			l.close(c)
		}
	}
	return len(l.conns) == 0
}

// stop closes what is left; adopt closes what comes after.
func (l *eventLoop) stop() {
	l.mu.Lock()
	l.stopped = true
	adopted := l.adopted
	l.adopted = nil
	l.mu.Unlock()
	for _, c := range adopted {
		unix.Close(c.fd)
	}
	for _, c := range l.conns {
		l.close(c)
	}
}
