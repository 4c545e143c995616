// Package batch summarizes many images in one run: it gathers the inputs
// (folders, globs, manifests), runs the vision stage of the next images while
// the language model works on the current one, and appends one JSON line per
// image to a resumable output file.
//
// The package knows nothing of the models: the caller supplies the two stages
// as functions, so the pipeline, resumption and error handling are tested
// without them.
package batch
