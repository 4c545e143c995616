package torchfile_test

import (
	"fmt"
	"log"

	"github.com/xraygpt-go/xraygpt/torchfile"
)

// Example lists a checkpoint's tensors and reads one as float32.
func Example() {
	c, err := torchfile.Open("testdata/training.pt")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, t := range c.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	scale, err := c.StateDict()["blocks.0.scale"].Float32()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(scale)
	// Output:
	// model.enc.weight float32 [2 3]
	// model.enc.bias float32 [2]
	// model.blocks.0.scale float16 [2]
	// optimizer.state.0.exp_avg float32 [2 3]
	// [1 1]
}
