// Package vision runs XrayGPT's and MedCLIP's image encoders in pure Go:
// EVA ViT-g/14 + ln_vision + BLIP-2 Q-Former (XrayGPT) and Swin-Tiny +
// projection head (MedCLIP), each optionally followed by a linear projector
// to the language model's width ("soft tokens").
//
// Weights come from one GGUF file per model (see the Key* constants for the
// metadata schema; tensor names are the PyTorch checkpoint keys). The
// hyperparameters are read from the file, so a tiny configuration runs the
// same code as the real one. Every matrix product goes through the
// gonum blas.Float32 interface given in Options. Activation buffers are
// allocated on the first Encode and reused.
//
// The forward passes read top to bottom: Model.forwardEVAQFormer and
// Model.forwardSwin, with one function per layer kind (eva.go, qformer.go,
// swin.go, nn.go).
package vision
