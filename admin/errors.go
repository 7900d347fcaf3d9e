package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"selfprov/internal/clip"
	"selfprov/provision"
)

// Outcome codes of the admin API itself, beside the core's.
const (
	codeUnauthenticated  = "UNAUTHENTICATED"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeTooLarge         = "REQUEST_TOO_LARGE"
	codeInternal         = "INTERNAL"
)

// statusOf maps every outcome code to its HTTP status: the one table of
// this adapter. A code missing here answers 422 (the core refused).
var statusOf = map[string]int{
	provision.CodeInvalid:             http.StatusBadRequest,
	provision.CodeInvalidModel:        http.StatusBadRequest,
	provision.CodeNotFound:            http.StatusNotFound,
	provision.CodeDeviceNotFound:      http.StatusNotFound,
	provision.CodeUserNotFound:        http.StatusNotFound,
	provision.CodeDuplicate:           http.StatusConflict,
	provision.CodeInUse:               http.StatusConflict,
	provision.CodeDeviceNotAutoReg:    http.StatusConflict,
	provision.CodeDeviceLimit:         http.StatusConflict,
	provision.CodeDNInAutoRegRange:    http.StatusConflict,
	provision.CodeAutoRegDisabled:     http.StatusConflict,
	provision.CodeAutoRegExhausted:    http.StatusConflict,
	provision.CodeAutoRegRateLimited:  http.StatusTooManyRequests,
	provision.CodeAutoProvCoolDown:    http.StatusConflict,
	provision.CodeNoPrimaryExtension:  http.StatusUnprocessableEntity,
	provision.CodeTemplateNotFound:    http.StatusUnprocessableEntity,
	provision.CodeNotAllowed:          http.StatusUnprocessableEntity,
	provision.CodeAutoProvNoTemplate:  http.StatusUnprocessableEntity,
	provision.CodeAutoProvVersion:     http.StatusUnprocessableEntity,
	provision.CodeAutoProvPlatform:    http.StatusUnprocessableEntity,
	provision.CodeAutoProvPolicy:      http.StatusUnprocessableEntity,
	provision.CodeAutoProvEmail:       http.StatusUnprocessableEntity,
	provision.CodeAuthFailed:          http.StatusUnprocessableEntity,
	provision.CodeAccountLocked:       http.StatusLocked,
	provision.CodeUnavailable:         http.StatusServiceUnavailable,
	provision.CodeNotRegistered:       http.StatusConflict,
	provision.CodeNotifyFailed:        http.StatusBadGateway,
	provision.CodeCallerNotRegistered: http.StatusForbidden,
	provision.CodeNoRoute:             http.StatusNotFound,
	codeUnauthenticated:               http.StatusUnauthorized,
	codeMethodNotAllowed:              http.StatusMethodNotAllowed,
	codeTooLarge:                      http.StatusRequestEntityTooLarge,
	codeInternal:                      http.StatusInternalServerError,
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Errors lists the refused rows of a bulk import file.
	Errors []provision.ImportRowError `json:"errors,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := provision.CodeOf(err)
	// The code is in its own field; the message need not repeat it.
	msg := strings.TrimPrefix(err.Error(), code+": ")
	if code == codeInternal {
		// Store and I/O errors stay in the log; the client learns no internals.
		s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; see the daemon's log"
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusUnprocessableEntity
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.code = code
	}
	body := errorBody{Code: code, Message: msg}
	var ie *provision.ImportError
	if errors.As(err, &ie) {
		body.Message = fmt.Sprintf("import refused, nothing was written: %d error(s)", ie.Total)
		if ie.Total > len(ie.Rows) {
			body.Message += fmt.Sprintf(", the first %d listed", len(ie.Rows))
		}
		body.Errors = ie.Rows
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"code":%q,"message":"encoding the answer failed"}`+"\n", codeInternal)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func statusLabel(code int) string { return strconv.Itoa(code) }

// decodeBody reads exactly one JSON value into v: bounded in size, unknown
// fields refused, nothing after it.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, s.maxBody)
	return decodeJSON(body, v)
}

func decodeJSON(body io.Reader, v any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return jsonError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return invalid("request body must hold a single JSON value")
	}
	// encoding/json matches field names case-insensitively; a misspelt
	// "startDn" would silently set startDN. Refuse it and name the field.
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return jsonError(err)
	}
	return exactKeys(doc, reflect.TypeOf(v), "")
}

// exactKeys checks that every object key in doc is spelt exactly as the
// json name of a field of t.
func exactKeys(doc any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil // decodes itself
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		for k, val := range obj {
			ft, ok := fields[k]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, k) {
						return invalid(fmt.Sprintf("unknown field %q%s; did you mean %q? (names are case-sensitive)", clip.String(k, 64), where(path), name))
					}
				}
				continue // DisallowUnknownFields has refused truly unknown ones
			}
			if err := exactKeys(val, ft, path+"."+k); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if arr, ok := doc.([]any); ok {
			for i, el := range arr {
				if err := exactKeys(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

func where(path string) string {
	if path == "" {
		return ""
	}
	return " in " + strings.TrimPrefix(path, ".")
}

// jsonFields maps the json names of t's fields, embedded structs
// flattened as encoding/json does, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
		pe  *provision.Error
	)
	switch {
	case errors.As(err, &mbe):
		return &provision.Error{Code: codeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
	case errors.As(err, &pe):
		return err // from a field's own UnmarshalJSON
	case errors.Is(err, io.EOF):
		return invalid("request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("request body is not valid JSON: it ends early")
	case errors.As(err, &syn):
		return invalid(fmt.Sprintf("request body is not valid JSON at byte %d: %v", syn.Offset, err))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalid(fmt.Sprintf("request body must be a JSON object, not %s", typ.Value))
		}
		return invalid(fmt.Sprintf("field %q must be %s, not %s", field, jsonKind(typ.Type), typ.Value))
	default:
		// encoding/json reports an unknown field only as text:
		// `json: unknown field "x"`.
		return invalid("request body: " + trimJSONPrefix(err.Error()))
	}
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "a number"
	}
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func invalid(msg string) error { return &provision.Error{Code: provision.CodeInvalid, Message: msg} }
