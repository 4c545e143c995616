package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/xraygpt-go/xraygpt/engine"
)

// chatRequest is the part of OpenAI's chat completion request the server
// reads; other fields are ignored.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []message       `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N *int `json:"n"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// contentPart is one element of an array content.
type contentPart struct {
	Type     string          `json:"type"`
	Text     *string         `json:"text"`
	ImageURL json.RawMessage `json:"image_url"` // {"url": "..."} or "..."
}

// parsed is a checked request, ready for the generator.
type parsed struct {
	Model     string
	Turns     []engine.Turn
	Image     []byte // the image's bytes
	MaxTokens int    // 0: the server's default
	Temp      *float64
	TopP      *float64
	Seed      *int64
	Stop      []string
	Stream    bool
	Usage     bool // stream_options.include_usage
}

// Request limits.
const (
	maxStops    = 4
	maxStopLen  = 64
	maxMessages = 256
)

// parseChatRequest reads and checks a chat completion request body. Its
// errors are *apiError with status 400.
func parseChatRequest(body []byte) (*parsed, error) {
	var req chatRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, badRequest("", "invalid JSON body: %v", err)
	}
	if dec.More() {
		return nil, badRequest("", "invalid JSON body: more than one value")
	}
	p := &parsed{Model: req.Model, Temp: req.Temperature, TopP: req.TopP, Seed: req.Seed, Stream: req.Stream}
	p.Usage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	if req.N != nil && *req.N != 1 {
		return nil, badRequest("n", "n=%d: only one choice per request is supported", *req.N)
	}
	for _, v := range []struct {
		name string
		p    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if v.p == nil {
			continue
		}
		if *v.p < 1 {
			return nil, badRequest(v.name, "%s=%d: want at least 1", v.name, *v.p)
		}
		p.MaxTokens = *v.p
	}
	if t := req.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		return nil, badRequest("temperature", "temperature=%v: want 0 to 2", *t)
	}
	if t := req.TopP; t != nil && (math.IsNaN(*t) || *t <= 0 || *t > 1) {
		return nil, badRequest("top_p", "top_p=%v: want more than 0 and at most 1", *t)
	}
	stops, err := parseStop(req.Stop)
	if err != nil {
		return nil, err
	}
	p.Stop = stops
	if err := p.conversation(req.Messages); err != nil {
		return nil, err
	}
	return p, nil
}

func parseStop(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	var stops []string
	if err := json.Unmarshal(raw, &one); err == nil {
		stops = []string{one}
	} else if err := json.Unmarshal(raw, &stops); err != nil {
		return nil, badRequest("stop", "stop: want a string or an array of strings")
	}
	if len(stops) > maxStops {
		return nil, badRequest("stop", "stop: at most %d strings", maxStops)
	}
	for _, s := range stops {
		if s == "" || len(s) > maxStopLen {
			return nil, badRequest("stop", "stop: each string must have 1 to %d bytes", maxStopLen)
		}
	}
	return stops, nil
}

// conversation turns the messages into XrayGPT's turns: user messages are
// the Patient's, assistant messages the Doctor's; consecutive user messages
// are joined; the one image may sit in any user message, in any position
// among the parts, and goes where XrayGPT puts it (the first message).
func (p *parsed) conversation(msgs []message) error {
	if len(msgs) == 0 {
		return badRequest("messages", "messages: at least one user message is needed")
	}
	if len(msgs) > maxMessages {
		return badRequest("messages", "messages: at most %d", maxMessages)
	}
	var turns []engine.Turn
	var pending []string // user text not answered yet
	for i, m := range msgs {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "user":
			text, err := p.userContent(m.Content, param)
			if err != nil {
				return err
			}
			if text != "" {
				pending = append(pending, text)
			}
		case "assistant":
			text, err := textContent(m.Content, param)
			if err != nil {
				return err
			}
			if len(pending) == 0 {
				return badRequest(param, "%s: an assistant message must follow a user question", param)
			}
			turns = append(turns, engine.Turn{Question: strings.Join(pending, "\n"), Answer: strings.TrimSpace(text)})
			pending = nil
		case "system", "developer":
			return badRequest(param, "%s: %s messages are not supported: XrayGPT's system prompt is fixed", param, m.Role)
		default:
			return badRequest(param, "%s: role %q: want user or assistant", param, m.Role)
		}
	}
	if len(pending) == 0 {
		return badRequest("messages", "messages: the last message must be a user message with a question")
	}
	if p.Image == nil {
		return badRequest("messages", "messages: no image: send one image_url part with a data: URL (PNG, JPEG or DICOM)")
	}
	p.Turns = append(turns, engine.Turn{Question: strings.Join(pending, "\n")})
	return nil
}

// userContent reads a user message's content: a string, or an array of
// text and image_url parts. It stores the image and returns the text.
func (p *parsed) userContent(raw json.RawMessage, param string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s), nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(param, "%s.content: want a string or an array of parts", param)
	}
	var texts []string
	for j, part := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch part.Type {
		case "text":
			if part.Text == nil {
				return "", badRequest(pp, "%s: a text part needs text", pp)
			}
			if t := strings.TrimSpace(*part.Text); t != "" {
				texts = append(texts, t)
			}
		case "image_url":
			if p.Image != nil {
				return "", badRequest(pp, "%s: only one image per conversation (XrayGPT reads one X-ray at a time)", pp)
			}
			url, err := imageURL(part.ImageURL, pp)
			if err != nil {
				return "", err
			}
			if p.Image, err = decodeDataURL(url, pp); err != nil {
				return "", err
			}
		default:
			return "", badRequest(pp, "%s: part type %q: want text or image_url", pp, part.Type)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// imageURL reads {"url": "..."} or a bare string.
func imageURL(raw json.RawMessage, param string) (string, error) {
	var url string
	if err := json.Unmarshal(raw, &url); err == nil {
		return url, nil
	}
	var obj struct {
		URL *string `json:"url"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.URL == nil {
		return "", badRequest(param, "%s: image_url wants {\"url\": \"data:...\"} or a string", param)
	}
	return *obj.URL, nil
}

// imageTypes are the media types a data URL may declare.
var imageTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/jpg": true,
	"application/dicom": true, "image/dicom": true, "application/octet-stream": true,
}

// decodeDataURL returns the media type and bytes of a base64 data URL. The
// bytes are recognised by content later (the declared type is not trusted).
func decodeDataURL(url, param string) ([]byte, error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok || !strings.EqualFold(scheme, "data") {
		if ok && len(scheme) < 16 {
			return nil, badRequest(param, "%s: %s: URLs are not fetched: send the image inline as a data: URL (base64)", param, strings.ToLower(scheme))
		}
		return nil, badRequest(param, "%s: want a data: URL (base64)", param)
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, badRequest(param, "%s: data URL without a comma", param)
	}
	mediaType, params, _ := strings.Cut(meta, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	if !strings.HasSuffix(strings.ToLower(params), "base64") {
		return nil, badRequest(param, "%s: the data URL must be base64-encoded", param)
	}
	if mediaType != "" && !imageTypes[mediaType] {
		return nil, badRequest(param, "%s: media type %q: want image/png, image/jpeg or application/dicom", param, mediaType)
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(payload, "="))
	}
	if err != nil {
		return nil, badRequest(param, "%s: bad base64 in the data URL", param)
	}
	if len(data) == 0 {
		return nil, badRequest(param, "%s: the data URL holds no bytes", param)
	}
	return data, nil
}

// textContent reads an assistant message's content: a string or text parts.
func textContent(raw json.RawMessage, param string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(param, "%s.content: want a string or an array of text parts", param)
	}
	var b strings.Builder
	for j, part := range parts {
		if part.Type != "text" || part.Text == nil {
			return "", badRequest(param, "%s.content[%d]: an assistant message holds text parts only", param, j)
		}
		b.WriteString(*part.Text)
	}
	return b.String(), nil
}

// apiError is an error in OpenAI's shape with its HTTP status.
type apiError struct {
	Status  int
	Message string
	Type    string
	Param   string
	Code    string
}

func (e *apiError) Error() string { return e.Message }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Type: "invalid_request_error", Param: param}
}

// asAPIError returns err's *apiError, or a 500 that hides the details.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return &apiError{Status: http.StatusInternalServerError, Message: "internal server error", Type: "server_error"}
}

// errorBody is the JSON of an error response.
func (e *apiError) body() map[string]any {
	var param, code any
	if e.Param != "" {
		param = e.Param
	}
	if e.Code != "" {
		code = e.Code
	}
	return map[string]any{"error": map[string]any{"message": e.Message, "type": e.Type, "param": param, "code": code}}
}
