// Package vision runs XrayGPT's and MedCLIP's image encoders in pure Go:
// EVA ViT-g/14 + ln_vision + BLIP-2 Q-Former (XrayGPT) and Swin-Tiny +
// projection head (MedCLIP), each optionally followed by a linear projector
// (XrayGPT's llama_proj) to the language model's width ("soft tokens").
//
// Weights come from one GGUF file per model (see the Key* constants for the
// metadata schema; tensor names are the PyTorch checkpoint keys). The
// hyperparameters are read from the file, so a tiny configuration runs the
// same code as the real one. Every linear layer is a linalg.Dense run with
// one linalg.Exec (the BLAS and thread count of Options): on CPUs with
// AVX-512 the four large matrices of each EVA block, and the products of
// EVA's attention heads, use linalg's packed product (linalg.Packed; off
// with Options.NoPacked), whose panels keep a float16 file's weights in
// half precision (widened block by block inside the product, so memory
// holds the file's 2 bytes a weight, not 4); every other product goes
// through the gonum
// blas.Float32 interface. LayerNorm, GELU and the softmax's exponentials
// are linalg's row kernels. Activation buffers are allocated on the first
// Encode and reused.
//
// The forward passes read top to bottom: Model.forwardEVAQFormer and
// Model.forwardSwin, with one function per layer kind (eva.go, qformer.go,
// swin.go, nn.go).
package vision
