package tftpd

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// maxStampedConfig bounds what ConfigStamp reads of a rendered config; a
// device file is a few kilobytes.
const maxStampedConfig = 1 << 20

// ConfigStamp returns the versionStamp of the config file a device is
// served now (rendered and cached as a fetch would), so a reset or restart
// names the same configuration the phone then downloads.
func (s *Server) ConfigStamp(ctx context.Context, deviceName string) (string, error) {
	req, err := Classify(deviceName + ".cnf.xml")
	if err != nil {
		return "", err
	}
	if req.Kind != KindDevice {
		return "", fmt.Errorf("tftpd: %s is not a device name", clip(deviceName))
	}
	f, err := s.content.open(ctx, req)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if f.data != nil { // a rendered file's bytes: read in place
		return versionStampOf(f.data)
	}
	data, err := io.ReadAll(io.LimitReader(f.r, maxStampedConfig))
	if err != nil {
		return "", err
	}
	return versionStampOf(data)
}

// versionStampOf reads the content of a rendered file's versionStamp.
func versionStampOf(data []byte) (string, error) {
	const open, closing = "<versionStamp>", "</versionStamp>"
	i := bytes.Index(data, []byte(open))
	if i < 0 {
		return "", fmt.Errorf("tftpd: rendered config has no versionStamp")
	}
	rest := data[i+len(open):]
	j := bytes.Index(rest, []byte(closing))
	if j < 0 {
		return "", fmt.Errorf("tftpd: rendered config has no versionStamp")
	}
	return string(rest[:j]), nil
}
