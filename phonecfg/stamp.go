package phonecfg

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
)

// RenderDeviceStamped is RenderDevice with a versionStamp that follows the
// file's content: d.VersionStamp (the device's stored version, renewed by
// every change of the device) is written first, and the stamp served is
// derived from every byte of that file. So any change of what the file is
// rendered from — the device, and what is not the device's: call managers
// and their ports, the advertised address, the model's load, the
// registration timer, the rendering itself — changes the stamp, and an
// unchanged file keeps it, across restarts too, so phones re-fetch only
// when something changed.
//
// The stamp keeps the product's shape, <epoch>-<8-4-4-4-12 hex>: the epoch
// of the stored version and a SHA-256 of the file.
func RenderDeviceStamped(d Device) ([]byte, error) {
	data, err := RenderDevice(d)
	if err != nil {
		return nil, err
	}
	return setVersionStamp(data, ContentStamp(d.VersionStamp, data))
}

// ContentStamp is the versionStamp of a rendered file: the leading digits
// (the epoch) of version, "0" if it has none, and a digest of data.
func ContentStamp(version string, data []byte) string {
	epoch := version
	for i := 0; i < len(epoch); i++ {
		if epoch[i] < '0' || epoch[i] > '9' {
			epoch = epoch[:i]
			break
		}
	}
	if epoch == "" || len(epoch) > 20 {
		epoch = "0"
	}
	sum := sha256.Sum256(data)
	var b [len("-00000000-0000-0000-0000-000000000000")]byte
	b[0] = '-'
	hex.Encode(b[1:9], sum[0:4])
	b[9] = '-'
	hex.Encode(b[10:14], sum[4:6])
	b[14] = '-'
	hex.Encode(b[15:19], sum[6:8])
	b[19] = '-'
	hex.Encode(b[20:24], sum[8:10])
	b[24] = '-'
	hex.Encode(b[25:], sum[10:16])
	return epoch + string(b[:])
}

// setVersionStamp replaces the content of the file's one versionStamp
// element. The stamp is digits, hex and dashes: nothing to escape.
func setVersionStamp(data []byte, stamp string) ([]byte, error) {
	const open, closing, empty = "<versionStamp>", "</versionStamp>", "<versionStamp/>"
	start, end := -1, -1
	if i := bytes.Index(data, []byte(open)); i >= 0 {
		if j := bytes.Index(data[i:], []byte(closing)); j >= 0 {
			start, end = i, i+j+len(closing)
		}
	} else if i := bytes.Index(data, []byte(empty)); i >= 0 {
		start, end = i, i+len(empty)
	}
	if start < 0 {
		return nil, invalidf("rendered device file has no versionStamp")
	}
	if content := data[start:end]; len(content) == len(open)+len(stamp)+len(closing) && bytes.HasPrefix(content, []byte(open)) {
		// The stored version has the stamp's shape, as it has when the
		// store wrote it: the file RenderDevice just made is stamped in place.
		copy(content[len(open):], stamp)
		return data, nil
	}
	out := make([]byte, 0, len(data)-(end-start)+len(open)+len(stamp)+len(closing))
	out = append(out, data[:start]...)
	out = append(out, open...)
	out = append(out, stamp...)
	out = append(out, closing...)
	return append(out, data[end:]...), nil
}
