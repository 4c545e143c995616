package imaging

import (
	"fmt"
	"image"
)

// Preprocessing constants of the two reference encoders.
const (
	// BLIP2Size is XrayGPT's input size (blip2_image_eval image_size).
	BLIP2Size = 224
	// MedCLIPSize is MedCLIP's input size (constants.IMG_SIZE).
	MedCLIPSize = 224
	// MedCLIPMean and MedCLIPStd are MedCLIP's single-channel normalisation
	// (constants.IMG_MEAN, IMG_STD).
	MedCLIPMean = 0.5862785803043838
	MedCLIPStd  = 0.27950088968644304
)

// CLIPMean returns the CLIP/BLIP-2 per-channel mean used by XrayGPT's
// blip2_image_eval: (0.48145466, 0.4578275, 0.40821073).
func CLIPMean() [3]float32 { return [3]float32{0.48145466, 0.4578275, 0.40821073} }

// CLIPStd returns the CLIP/BLIP-2 per-channel standard deviation:
// (0.26862954, 0.26130258, 0.27577711).
func CLIPStd() [3]float32 { return [3]float32{0.26862954, 0.26130258, 0.27577711} }

// BLIP2Eval is XrayGPT's blip2_image_eval applied to
// Image.open(path).convert("RGB"): the image is made 8-bit RGB (see ToRGB8),
// resized to size x size with Pillow's antialiased BICUBIC (aspect ratio not
// kept, see Resize), scaled by 1/255 and normalised per channel,
// (x/255 - mean[c]) / std[c], in float32 in torchvision's order. It returns
// a CHW tensor of 3*size*size float32.
//
// Gray sources are resized once and copied to the three channels, which
// gives exactly what resizing Pillow's three identical channels gives.
func BLIP2Eval(img image.Image, size int, mean, std [3]float32) ([]float32, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	for c := range std {
		if std[c] == 0 {
			return nil, fmt.Errorf("imaging: BLIP2Eval: std[%d] is zero", c)
		}
	}
	px, err := blip2Pixels(img, size)
	if err != nil {
		return nil, fmt.Errorf("imaging: BLIP2Eval: %w", err)
	}
	var lut [3][256]float32
	for c := range lut {
		for v := range lut[c] {
			t := float32(v) / 255
			t = t - mean[c]
			lut[c][v] = t / std[c]
		}
	}
	out := make([]float32, len(px))
	n := size * size
	for c := 0; c < 3; c++ {
		l := &lut[c]
		dst := out[c*n : (c+1)*n]
		for i, v := range px[c*n : (c+1)*n] {
			dst[i] = l[v]
		}
	}
	return out, nil
}

// MedCLIPEval is MedCLIP's MedCLIPFeatureExtractor (medclip/dataset.py) on an
// image as Image.open returns it: the image is pasted, converted to 8-bit
// gray (see ToGray8), at the centre of a black square of side
// max(size, width, height) (PadToSquare), resized to size x size with
// Pillow's BICUBIC (see Resize), centre-cropped to size x size (CenterCrop, a
// no-op here), then x*(1/255) is normalised, (x - mean) / std, in float32 in
// the order NumPy uses in the Hugging Face feature extractor. Images smaller
// than size are padded, not enlarged. It returns 1*size*size float32 (CHW).
func MedCLIPEval(img image.Image, size int, mean, std float32) ([]float32, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	if std == 0 {
		return nil, fmt.Errorf("imaging: MedCLIPEval: std is zero")
	}
	px, err := medclipPixels(img, size)
	if err != nil {
		return nil, fmt.Errorf("imaging: MedCLIPEval: %w", err)
	}
	const inv255 = float32(1.0 / 255.0)
	var lut [256]float32
	for v := range lut {
		t := float32(float32(v) * inv255)
		lut[v] = (t - mean) / std
	}
	out := make([]float32, len(px))
	for i, v := range px {
		out[i] = lut[v]
	}
	return out, nil
}

// blip2Pixels is BLIP2Eval before normalisation: 3*size*size bytes, CHW.
func blip2Pixels(img image.Image, size int) ([]uint8, error) {
	m, err := to8(img)
	if err != nil {
		return nil, err
	}
	n := size * size
	out := make([]uint8, 3*n)
	switch m := m.(type) {
	case *image.Gray:
		r, err := resizePlane(grayPlane(m), size, size)
		if err != nil {
			return nil, err
		}
		for c := 0; c < 3; c++ {
			copy(out[c*n:(c+1)*n], r.pix[:n])
		}
	case *image.RGBA:
		r, err := resizePlane(rgbaPlane(m), size, size)
		if err != nil {
			return nil, err
		}
		for c := 0; c < 3; c++ {
			dst := out[c*n : (c+1)*n]
			for i := range dst {
				dst[i] = r.pix[4*i+c]
			}
		}
	}
	return out, nil
}

// medclipPixels is MedCLIPEval before normalisation: size*size bytes.
func medclipPixels(img image.Image, size int) ([]uint8, error) {
	g, err := ToGray8(img)
	if err != nil {
		return nil, err
	}
	// PadToSquare then Resize, without building the (possibly huge) square.
	w, h := g.Rect.Dx(), g.Rect.Dy()
	side := max(size, w, h)
	if side > maxPadSide {
		return nil, fmt.Errorf("%w: %dx%d would be padded to a %dx%d square (limit %d)", ErrTooLarge, w, h, side, side, maxPadSide)
	}
	r, err := resizePadded(grayPlane(g), side, side, (side-w)/2, (side-h)/2, size, size)
	if err != nil {
		return nil, err
	}
	sq := CenterCrop(&image.Gray{Pix: r.pix, Stride: r.stride, Rect: image.Rect(0, 0, r.w, r.h)}, size, size)
	out := make([]uint8, size*size)
	for y := 0; y < size; y++ {
		copy(out[y*size:(y+1)*size], sq.Pix[y*sq.Stride:y*sq.Stride+size])
	}
	return out, nil
}

// maxPadSide bounds MedCLIP's padded square (a 65535-pixel side is 4 GiB if
// built; it never is, but the resize's intermediate is side x size bytes).
const maxPadSide = 1 << 16

// PadToSquare pastes img at the centre of a black square of side
// max(minSize, width, height), at offset (int((side-w)/2), int((side-h)/2)),
// like MedCLIP's pad_img. The result starts at (0,0).
func PadToSquare(img *image.Gray, minSize int) *image.Gray {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	side := max(minSize, w, h)
	out := image.NewGray(image.Rect(0, 0, side, side))
	ox, oy := (side-w)/2, (side-h)/2
	for y := 0; y < h; y++ {
		i := img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y)
		copy(out.Pix[(oy+y)*out.Stride+ox:], img.Pix[i:i+w])
	}
	return out
}

// CenterCrop cuts a w x h window from the centre of img, its top-left corner
// at ((W-w)//2, (H-h)//2) with floor division, as the Hugging Face image
// feature extractors do. Parts of the window outside img are black (as with
// Pillow's crop). The result starts at (0,0).
func CenterCrop(img *image.Gray, w, h int) *image.Gray {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	left, top := floorDiv(W-w, 2), floorDiv(H-h, 2)
	if left == 0 && top == 0 && w == W && h == H && img.Rect.Min == (image.Point{}) {
		return img
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		sy := top + y
		if sy < 0 || sy >= H {
			continue
		}
		for x := 0; x < w; x++ {
			sx := left + x
			if sx < 0 || sx >= W {
				continue
			}
			out.Pix[y*out.Stride+x] = img.Pix[img.PixOffset(img.Rect.Min.X+sx, img.Rect.Min.Y+sy)]
		}
	}
	return out
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func checkSize(size int) error {
	if size <= 0 || size > 16384 {
		return fmt.Errorf("imaging: output size %d out of range 1..16384", size)
	}
	return nil
}

func grayPlane(m *image.Gray) plane {
	return plane{pix: m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], w: m.Rect.Dx(), h: m.Rect.Dy(), stride: m.Stride, nc: 1}
}

func rgbaPlane(m *image.RGBA) plane {
	return plane{pix: m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], w: m.Rect.Dx(), h: m.Rect.Dy(), stride: m.Stride, nc: 4}
}
