package server

import (
	"bytes"
	"embed"
	"html/template"
	"image"
	"image/png"
	"io/fs"
	"net/http"

	"github.com/xraygpt-go/xraygpt/imaging"
)

// web holds the page and its assets: nothing is loaded from elsewhere.
//
//go:embed web
var web embed.FS

var pageTemplate = template.Must(template.ParseFS(web, "web/index.html"))

func assets() http.Handler {
	sub, _ := fs.Sub(web, "web")
	files := http.FileServerFS(sub)
	return http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
}

// page serves the web page with the model names filled in.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	err := pageTemplate.Execute(&b, map[string]any{
		"Model": s.opts.Model, "Vision": s.opts.Vision, "KeyRequired": s.opts.APIKey != "",
	})
	if err != nil {
		s.opts.Log.Printf("page: %v", err)
		writeError(w, asAPIError(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// Only this server's own scripts, styles and images (data:/blob: for the preview).
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Write(b.Bytes())
}

// previewSide bounds the preview's longer side in pixels.
const previewSide = 1024

// preview renders an uploaded image (the raw bytes of a PNG, JPEG or DICOM
// file) as an 8-bit PNG the page can show: a DICOM file with its window,
// as the model sees it.
func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	img, err := imaging.Decode(bytes.NewReader(body))
	if err != nil {
		writeError(w, imageError(err))
		return
	}
	out, err := previewImage(img)
	if err != nil {
		writeError(w, badRequest("", "preview: %v", err))
		return
	}
	var b bytes.Buffer
	if err := png.Encode(&b, out); err != nil {
		writeError(w, asAPIError(err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(b.Bytes())
}

// previewImage converts img to 8 bits and shrinks it to fit previewSide.
func previewImage(img image.Image) (image.Image, error) {
	b := img.Bounds()
	if g, ok := img.(*image.Gray16); ok { // windowed DICOM grey: keep the high byte
		g8 := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				g8.Pix[y*g8.Stride+x] = g.Pix[g.PixOffset(b.Min.X+x, b.Min.Y+y)]
			}
		}
		img, b = g8, g8.Bounds()
	}
	w, h := b.Dx(), b.Dy()
	if w <= previewSide && h <= previewSide {
		if _, ok := img.(*image.Gray); ok {
			return img, nil
		}
		return imaging.Resize(img, w, h)
	}
	if w >= h {
		w, h = previewSide, max(1, h*previewSide/w)
	} else {
		w, h = max(1, w*previewSide/h), previewSide
	}
	return imaging.Resize(img, w, h)
}
