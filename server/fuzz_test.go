package server

import (
	"encoding/base64"
	"errors"
	"os"
	"testing"
)

// FuzzParseChatRequest feeds arbitrary bodies to the request parser: it
// never panics, every error is a 400 in OpenAI's shape, and an accepted
// request has an image, a question last and answers before it.
func FuzzParseChatRequest(f *testing.F) {
	png, err := os.ReadFile(demoImage)
	if err != nil {
		f.Fatal(err)
	}
	img := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png[:200])
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"` + img + `"}},{"type":"text","text":"Describe."}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":"data:application/dicom;base64,RElDTQ=="}]},{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"a"}]},{"role":"user","content":"q2"}],"stop":["x"],"seed":-1,"temperature":0,"top_p":1,"max_tokens":5,"n":1,"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
		`{"messages":[{"role":"system","content":"s"}]}`,
		`{"messages":[{"role":"assistant","content":null}]}`,
		`{"messages":[],"stop":"###"}`,
		`{"stop":[1,2]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64"}}]}]}`,
		`[]`, `null`, `{`, `{"n":2}`, `{"temperature":1e400}`, `{"max_tokens":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseChatRequest(body)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 || ae.Message == "" || ae.Type != "invalid_request_error" {
				t.Fatalf("error %#v is not a 400 API error", err)
			}
			return
		}
		if len(p.Image) == 0 || len(p.Turns) == 0 || p.Turns[len(p.Turns)-1].Question == "" || p.Turns[len(p.Turns)-1].Answer != "" {
			t.Fatalf("accepted a request without an image or a question: %+v", p)
		}
		for _, turn := range p.Turns[:len(p.Turns)-1] {
			if turn.Question == "" {
				t.Fatalf("an earlier turn without a question: %+v", p.Turns)
			}
		}
	})
}
