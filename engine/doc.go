// Package engine runs XrayGPT: it turns an image into soft tokens with the
// vision model and projector, splices them into the conversation prompt and
// generates the answer with the language model through package llama. The
// CLI, batch mode and a server share it.
package engine
