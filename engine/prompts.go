package engine

import "math/rand/v2"

// AlignmentPrompts are the 15 instructions of XrayGPT's prompts/alignment.txt
// (mbzuai-oryx/XrayGPT, CC BY-NC-SA 4.0), without their "<Img><ImageHere></Img> "
// prefix. XrayGPT's fine-tuning and test script pick one at random per image.
var AlignmentPrompts = []string{
	"Describe the given chest x-ray image in detail.",
	"Take a look at this chest x-ray and describe the findings and impression.",
	"Could you provide a detailed description of the given x-ray image?",
	"Describe the given chest x-ray image as detailed as possible.",
	"What are the key findings in this chest x-ray image?",
	"Could you highlight any abnormalities or concerns in this chest x-ray image?",
	"What specific features of the lungs and heart are visible in this chest x-ray image?",
	"What is the most prominent feature visible in this chest x-ray image, and how is it indicative of the patient's health?",
	"What are the finding and overall impression provided by this chest x-ray image?",
	"How does the size and shape of the heart in this chest x-ray image?",
	"Is the overall impression provided by this chest x-ray image normal or abnormal? Answer based on the observed findings.",
	"Are there any indications of infection or inflammation in this chest x-ray image, and if so, what is the likely cause?",
	"Based on the findings in this chest x-ray image, what is the overall impression?",
	"Are there any visible indications of enlargement or abnormalities in the patient's lymph nodes in this chest x-ray image?",
	"Is there any potential complications or risks are associated with the observed abnormalities in this chest x-ray image? or the x-ray is normal?",
}

// PromptPicker chooses alignment prompts reproducibly: the same seed gives
// the same sequence of prompts.
type PromptPicker struct{ rng *rand.Rand }

// NewPromptPicker returns a picker seeded with seed.
func NewPromptPicker(seed uint64) *PromptPicker {
	return &PromptPicker{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Next returns the next prompt.
func (p *PromptPicker) Next() string { return AlignmentPrompts[p.rng.IntN(len(AlignmentPrompts))] }
