package dicom_test

import (
	"fmt"
	"log"

	"github.com/xraygpt-go/xraygpt/dicom"
)

// Decode a chest film; MONOCHROME1 comes out inverted, windowed to 16 bits.
func ExampleDecodeFile() {
	img, err := dicom.DecodeFile("testdata/cr_small.dcm", dicom.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Modality, img.BodyPart, img.Photometric, img.Columns, img.Rows)
	fmt.Printf("%T window %v [%g, %g]\n", img.Pixels, img.Window, img.WindowLow, img.WindowHigh)
	// Output:
	// CR CHEST MONOCHROME1 268 220
	// *image.Gray16 window voi [0, 1023]
}
