package admin

import (
	"errors"
	"mime"
	"net/http"
	"time"

	"selfprov/provision"
)

// MaxImportBytes bounds a bulk import file: 200,000 rows of a users file
// are about 30 MB.
const MaxImportBytes = 64 << 20

// importTimeout bounds reading, checking and answering one import file.
const importTimeout = 10 * time.Minute

// importCSV answers POST /api/v1/import/{users,phones}: the body is the CSV
// file; the whole file is created, or nothing and every refused row is
// listed by line and column.
func (s *Server) importCSV(run func(*Server, *http.Request) (provision.ImportResult, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "text/csv" && mt != "application/csv" && mt != "text/plain") {
				s.writeError(w, r, invalid("send the file as Content-Type: text/csv (got "+ct+")"))
				return
			}
		}
		// A file of many rows takes longer to send and to check than the
		// server's timeouts allow any other request.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(importTimeout))
		_ = rc.SetWriteDeadline(time.Now().Add(importTimeout))
		r.Body = http.MaxBytesReader(w, r.Body, MaxImportBytes)
		res, err := run(s, r)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = &provision.Error{Code: codeTooLarge, Message: "an import file is limited to 64 MiB; split it"}
			}
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func importUsers(s *Server, r *http.Request) (provision.ImportResult, error) {
	return s.svc.ImportUsers(r.Context(), r.Body)
}

func importPhones(s *Server, r *http.Request) (provision.ImportResult, error) {
	return s.svc.ImportPhones(r.Context(), r.Body)
}
