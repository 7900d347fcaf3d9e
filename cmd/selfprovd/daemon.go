package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/configs"
	"selfprov/provision"
)

// Addrs are the addresses the daemon bound.
type Addrs struct {
	TFTP, Config, SIP, SIPTLS, Services, Admin, HTTPS string
}

// component is one server of the daemon.
type component struct {
	name     string
	serve    func() error
	shutdown func(context.Context) error
}

type daemon struct {
	addrs      Addrs
	ln         listeners
	components []component
	closers    []func() error // listeners not (yet) owned by a server
}

// listen binds every configured port before anything serves, so a port that
// cannot be bound stops the start with a message naming its flag.
type binder struct {
	closers []func() error
}

func (b *binder) tcp(flagName, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, bindError(flagName, addr, err)
	}
	b.closers = append(b.closers, ln.Close)
	return ln, nil
}

func (b *binder) udp(flagName, addr string) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, bindError(flagName, addr, err)
	}
	b.closers = append(b.closers, pc.Close)
	return pc, nil
}

// bindError names the flag that chose the address, and says what to do
// about the usual causes.
func bindError(flagName, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("-%s %s: %w (ports below 1024 need root or cap_net_bind_service; or pick a higher port with -%s)", flagName, addr, err, flagName)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("-%s %s: %w (another process holds this port; stop it or pick another with -%s)", flagName, addr, err, flagName)
	}
	return fmt.Errorf("-%s %s: %w", flagName, addr, err)
}

func (b *binder) closeAll() {
	for _, c := range b.closers {
		c()
	}
}

// bind binds every listener of cfg. Nothing serves yet; the caller either
// wires the daemon or closes it.
func bind(cfg *configs.Config) (*daemon, error) {
	b := &binder{}
	d := &daemon{}
	fail := func(err error) (*daemon, error) {
		b.closeAll()
		return nil, err
	}
	tftpConn, err := b.udp("listen.tftp", cfg.Listen.TFTP)
	if err != nil {
		return fail(err)
	}
	configLn, err := b.tcp("listen.config", cfg.Listen.Config)
	if err != nil {
		return fail(err)
	}
	sipUDP, sipTCP, err := b.sipPair(cfg.Listen.SIP)
	if err != nil {
		return fail(err)
	}
	var sipTLS net.Listener
	if cfg.TLS.Cert != "" {
		if sipTLS, err = b.tcp("listen.sip-tls", cfg.Listen.SIPTLS); err != nil {
			return fail(err)
		}
		d.addrs.SIPTLS = sipTLS.Addr().String()
	}
	servicesLn, err := b.tcp("listen.services", cfg.Listen.Services)
	if err != nil {
		return fail(err)
	}
	adminLn, err := b.tcp("listen.admin", cfg.Listen.Admin)
	if err != nil {
		return fail(err)
	}
	d.addrs.TFTP = tftpConn.LocalAddr().String()
	d.addrs.Config = configLn.Addr().String()
	d.addrs.SIP = sipUDP.LocalAddr().String()
	d.addrs.Services = servicesLn.Addr().String()
	d.addrs.Admin = adminLn.Addr().String()

	d.ln = listeners{
		tftp: tftpConn, config: configLn, sipUDP: sipUDP, sipTCP: sipTCP, sipTLS: sipTLS,
		services: servicesLn, admin: adminLn,
	}
	d.closers = b.closers
	return d, nil
}

// wireAdapters builds every adapter on the bound listeners; on failure the
// listeners are closed.
func (d *daemon) wireAdapters(ctx context.Context, cfg *configs.Config, svc *provision.Service, log *slog.Logger, reg *prometheus.Registry) error {
	if err := wire(ctx, d, cfg, svc, log, reg, d.ln); err != nil {
		d.closeListeners()
		return err
	}
	return nil
}

// closeListeners closes every bound listener; used when the daemon never
// served.
func (d *daemon) closeListeners() {
	for _, c := range d.closers {
		c()
	}
}

type listeners struct {
	tftp     net.PacketConn
	config   net.Listener
	sipUDP   net.PacketConn
	sipTCP   net.Listener
	sipTLS   net.Listener
	services net.Listener
	admin    net.Listener
}

// sipPair binds SIP over UDP and TCP on one port, as phones expect. With
// port 0 the kernel picks a UDP port whose TCP twin may be taken, so a few
// picks are tried.
func (b *binder) sipPair(addr string) (net.PacketConn, net.Listener, error) {
	const picks = 20
	for i := 0; ; i++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, bindError("listen.sip", addr, err)
		}
		tcpAddr := boundPort(addr, pc.LocalAddr().String())
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			b.closers = append(b.closers, pc.Close, ln.Close)
			return pc, ln, nil
		}
		pc.Close()
		if tcpAddr == addr || i == picks-1 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, bindError("listen.sip", tcpAddr, err)
		}
	}
}

// start serves every component; the channel gets the first failure.
func (d *daemon) start() <-chan error {
	errc := make(chan error, len(d.components))
	for _, c := range d.components {
		go func() {
			if err := c.serve(); err != nil {
				errc <- fmt.Errorf("%s: %w", c.name, err)
			}
		}()
	}
	return errc
}

// shutdown stops every component in parallel under ctx, then closes any
// listener no server owned.
func (d *daemon) shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(d.components))
	for i, c := range d.components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.shutdown(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", c.name, err)
			}
		}()
	}
	wg.Wait()
	d.closeListeners() // already closed by their servers in the normal case
	return errors.Join(errs...)
}
