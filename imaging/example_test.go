package imaging_test

import (
	"fmt"
	"log"

	"github.com/xraygpt-go/xraygpt/imaging"
)

// XrayGPT's input: 3x224x224 float32, CHW.
func ExampleBLIP2Eval() {
	img, err := imaging.Load("testdata/in/xray_gray.png")
	if err != nil {
		log.Fatal(err)
	}
	x, err := imaging.BLIP2Eval(img, imaging.BLIP2Size, imaging.CLIPMean(), imaging.CLIPStd())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(x), len(x) == 3*224*224)
	// Output: 150528 true
}

// MedCLIP's input: 1x224x224 float32.
func ExampleMedCLIPEval() {
	img, err := imaging.Load("testdata/in/xray_420.jpg")
	if err != nil {
		log.Fatal(err)
	}
	x, err := imaging.MedCLIPEval(img, imaging.MedCLIPSize, imaging.MedCLIPMean, imaging.MedCLIPStd)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(x))
	// Output: 50176
}
