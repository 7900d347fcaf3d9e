//go:build !amd64

package kdf

func hasSHAExtensions() bool { return false }

func compress(state *[8]uint32, block *[16]uint32) { panic("kdf: no SHA extensions") }

func iterate(istate, ostate, u, t *[8]uint32, n int) { panic("kdf: no SHA extensions") }
