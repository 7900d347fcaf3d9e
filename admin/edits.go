package admin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"selfprov/internal/clip"
	"selfprov/provision"
)

// deviceInput is a device as written. On POST every field but owner,
// description and lines is required; PUT replaces description, owner and
// lines (left out: none) and, if given, the template or settings; PATCH
// changes what it carries. Name and model, if given on PUT or PATCH, must
// be the device's: they do not change.
type deviceInput struct {
	Name        *string           `json:"name"`
	Model       *int              `json:"model"`
	Owner       *string           `json:"owner"`
	Description *string           `json:"description"`
	UDT         *string           `json:"udt"`
	Settings    *settingsView     `json:"settings"`
	Lines       *[]appearanceView `json:"lines"`
}

func appearances(in []appearanceView) []provision.Line {
	out := make([]provision.Line, 0, len(in))
	for _, a := range in {
		out = append(out, a.line())
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// addDevice adds a provisioned device with its lines.
func (s *Server) addDevice(w http.ResponseWriter, r *http.Request) {
	var in deviceInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case in.Name == nil || *in.Name == "":
		s.writeError(w, r, invalid(`field "name" is required`))
		return
	case in.Model == nil:
		s.writeError(w, r, invalid(`field "model" is required`))
		return
	case in.Settings != nil:
		s.writeError(w, r, invalid(`a new device takes its settings from "udt"; edit them afterwards`))
		return
	}
	var lines []provision.Line
	if in.Lines != nil {
		lines = appearances(*in.Lines)
	}
	d, err := s.svc.AddDevice(r.Context(), provision.NewDevice{
		Name: *in.Name, Model: *in.Model, Owner: deref(in.Owner), Description: deref(in.Description),
		UDT: deref(in.UDT), Lines: lines,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/devices/"+url.PathEscape(d.Name))
	writeJSON(w, http.StatusCreated, viewDevice(d))
}

// editDevice serves PUT (replace) and PATCH (partial) of a device.
func (s *Server) editDevice(replace bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in deviceInput
		if err := s.decodeBody(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx := r.Context()
		cur, err := s.svc.Device(ctx, r.PathValue("name"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if in.Name != nil {
			if canon, err := provision.CanonicalDeviceName(*in.Name); err != nil || canon != cur.Name {
				s.writeError(w, r, invalid(fmt.Sprintf("name %q in the body differs from %q in the path; a device is not renamed here", clip.String(*in.Name, 64), cur.Name)))
				return
			}
		}
		if in.Model != nil && *in.Model != cur.Model {
			s.writeError(w, r, invalid(fmt.Sprintf("model %d differs from the device's %d; a device's model does not change", *in.Model, cur.Model)))
			return
		}
		ch := provision.DeviceChange{Description: in.Description, Owner: in.Owner, UDT: in.UDT}
		if in.Settings != nil {
			st := in.Settings.settings()
			ch.Settings = &st
		}
		if in.Lines != nil {
			l := appearances(*in.Lines)
			ch.Lines = &l
		}
		if replace {
			if ch.Description == nil {
				ch.Description = new(string)
			}
			if ch.Owner == nil {
				ch.Owner = new(string)
			}
			if ch.Lines == nil {
				ch.Lines = &[]provision.Line{}
			}
		}
		d, err := s.svc.UpdateDevice(ctx, cur.Name, ch)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, viewDevice(d))
	}
}

// lineKey reads a line's path: /lines/{dn}, the partition in the query
// ("partition", left out for the none partition).
func lineKey(r *http.Request) (provision.LineKey, error) {
	q, err := query(r, "partition")
	if err != nil {
		return provision.LineKey{}, err
	}
	return provision.LineKey{DN: r.PathValue("dn"), Partition: q["partition"]}, nil
}

func lineLocation(k provision.LineKey) string {
	loc := "/api/v1/lines/" + url.PathEscape(k.DN)
	if k.Partition != "" {
		loc += "?partition=" + url.QueryEscape(k.Partition)
	}
	return loc
}

// linePage is one page of lines; next, when set, continues the listing
// (as afterDN and afterPartition).
type linePage struct {
	Items []lineView `json:"items"`
	Next  *struct {
		DN        string `json:"afterDN"`
		Partition string `json:"afterPartition"`
	} `json:"next,omitempty"`
}

func (s *Server) listLines(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "afterDN", "afterPartition", "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := pageLimit(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lines, err := s.svc.Lines(r.Context(), provision.LineFilter{
		After: provision.LineKey{DN: q["afterDN"], Partition: q["afterPartition"]}, Limit: limit,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := linePage{Items: make([]lineView, 0, len(lines))}
	for _, l := range lines {
		p.Items = append(p.Items, viewLine(l))
	}
	if len(lines) == limit {
		last := lines[len(lines)-1]
		p.Next = &struct {
			DN        string `json:"afterDN"`
			Partition string `json:"afterPartition"`
		}{last.DN, last.Partition}
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getLine(w http.ResponseWriter, r *http.Request) {
	k, err := lineKey(r)
	if err == nil {
		var l provision.DirectoryNumber
		if l, err = s.svc.Line(r.Context(), k); err == nil {
			writeJSON(w, http.StatusOK, viewLine(l))
			return
		}
	}
	s.writeError(w, r, err)
}

func (s *Server) addLine(w http.ResponseWriter, r *http.Request) {
	var in lineInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	l, err := s.svc.AddLine(r.Context(), in.line())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", lineLocation(l.Key()))
	writeJSON(w, http.StatusCreated, viewLine(l))
}

// editLine serves PUT (the settings replaced) and PATCH (the settings the
// body carries changed) of a line, in one transaction with the read.
func (s *Server) editLine(replace bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, err := lineKey(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		if err != nil {
			s.writeError(w, r, jsonError(err))
			return
		}
		l, err := s.svc.UpdateLine(r.Context(), k, func(l *provision.DirectoryNumber) error {
			in := lineInput{DN: l.DN, Partition: l.Partition, lineSettings: settingsOfLine(*l)}
			if replace {
				in.lineSettings = lineSettings{}
			}
			// Decoding onto the line as stored changes only what the body
			// carries.
			if err := decodeJSON(bytes.NewReader(body), &in); err != nil {
				return err
			}
			if in.DN != k.DN || in.Partition != k.Partition {
				return invalid(fmt.Sprintf("dn and partition in the body (%s) differ from the path's (%s); a line is not moved here", provision.LineKey{DN: in.DN, Partition: in.Partition}, k))
			}
			*l = in.line()
			return nil
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, viewLine(l))
	}
}

// deleteLine removes a line and its appearances on every device.
func (s *Server) deleteLine(w http.ResponseWriter, r *http.Request) {
	k, err := lineKey(r)
	if err == nil {
		err = s.svc.RemoveLine(r.Context(), k)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// applyLine restarts every device showing the line (202): those asked,
// and those that could not be (not registered).
func (s *Server) applyLine(w http.ResponseWriter, r *http.Request) {
	k, err := lineKey(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	restarted, failed, err := s.svc.ApplyLine(r.Context(), k)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if restarted == nil {
		restarted = []string{}
	}
	if failed == nil {
		failed = []string{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"action": string(provision.ActionRestart), "devices": restarted, "notRestarted": failed})
}
