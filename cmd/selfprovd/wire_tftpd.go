package main

import (
	"net"
	"strconv"

	"selfprov/phonecfg"
	"selfprov/tftpd"
)

// wireTFTPD serves config delivery: TFTP on -listen.tftp and its HTTP
// mirror on -listen.config. Configs name this daemon as the call manager,
// at the advertised address and the bound SIP ports.
func wireTFTPD(w *wiring) error {
	cm := phonecfg.CallManager{
		Host:           w.cfg.Advertise,
		SIPPort:        tftpdPort(w.ln.sipUDP.LocalAddr()),
		SecuredSIPPort: phonecfg.DefaultSecuredSIPPort,
	}
	if w.ln.sipTLS != nil {
		cm.SecuredSIPPort = tftpdPort(w.ln.sipTLS.Addr())
	}
	perSource := w.cfg.TFTP.MaxTransfersPerSource
	if perSource == 0 {
		perSource = -1 // the configuration's "no bound"
	}
	srv, err := tftpd.New(tftpd.Options{
		Core:                  w.svc,
		CallManagers:          []phonecfg.CallManager{cm},
		StaticDir:             w.cfg.StaticDir,
		MaxTransfersPerSource: perSource,
		Logger:                w.log.With("component", "tftpd"),
		Registerer:            w.registry,
	})
	if err != nil {
		return err
	}
	w.configStamp = srv.ConfigStamp
	serveOn(w, "tftp", srv, w.ln.tftp)
	serveOn(w, "config-http", httpServer{srv.HTTPServer()}, w.ln.config)
	return nil
}

func tftpdPort(a net.Addr) int {
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
