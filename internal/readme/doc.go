// Package readme holds the test that runs the walk-through of the
// top-level README.md, command by command, against a real selfprovd, so
// that the first thing a new user reads keeps working.
package readme
