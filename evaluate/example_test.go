package evaluate_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/xraygpt-go/xraygpt/evaluate"
)

// Example scores two predictions, one of them without a reference, and
// prints the terminal table.
func Example() {
	preds, _ := evaluate.Read(strings.NewReader(
		`{"id": "CXR1", "summary": "The heart is normal in size. No pleural effusions."}
{"id": "CXR2", "summary": "Lungs are clear."}
`), "predictions.jsonl", evaluate.FormatJSONL, evaluate.Fields{})
	refs, _ := evaluate.Read(strings.NewReader(
		"id,report\nCXR1,Heart size is normal. There is no pleural effusion or pneumothorax.\n"),
		"references.csv", evaluate.FormatCSV, evaluate.Fields{})
	res, err := evaluate.Evaluate(context.Background(), preds, refs, evaluate.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	res.WriteTable(os.Stdout)
	// Output:
	// ROUGE: plain mean of per-item scores over 1 items
	//
	// no stemming            P       R      F1
	//   ROUGE-1         0.6667  0.5455  0.6000
	//   ROUGE-2         0.2500  0.2000  0.2222
	//   ROUGE-L         0.5556  0.4545  0.5000
	//   ROUGE-Lsum      0.5556  0.4545  0.5000
	//
	// Porter stemming        P       R      F1
	//   ROUGE-1         0.7778  0.6364  0.7000
	//   ROUGE-2         0.3750  0.3000  0.3333
	//   ROUGE-L         0.6667  0.5455  0.6000
	//   ROUGE-Lsum      0.6667  0.5455  0.6000
	//
	// missing references (predictions without a reference): 1 (CXR2)
	// missing predictions (references without a prediction): 0
	// failed (prediction rows with an error): 0
}
